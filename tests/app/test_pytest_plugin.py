"""`pytest --migration-guard` in real pytest processes, judged against `python -m ci` itself.

Each test copies the worked example (`schema/`, its config at the project root) to a temporary
folder, runs `python -m ci --format json` there for the verdicts and `python -m pytest
--migration-guard` for the items, and compares the two: the item of every failing case fails,
every other item passes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from tests.conftest import JUNIT_XSD, REPO

TOP = "schema/migrations"
MIGRATION = re.compile(r"schema/migrations/(?P<folder>\w+)/(?P<number>\d{4})_")
RESULT = re.compile(r"^(PASSED|FAILED|ERROR) (\S+)", re.MULTILINE)
WARNINGS = "error::ci.app.pytest_checks.MigrationGuardWarning"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The worked example as a project of its own: schema/, migration-guard.yaml, pytest.ini."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "schema", root / "schema")
    shutil.copy(REPO / "schema" / "migration-guard.yaml", root / "migration-guard.yaml")
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return root


def broken(root: Path) -> Path:
    """Three kinds of breakage: a numbering gap (0009 after 0007), an edit to an applied file
    (0002, recorded in the lock), a rollback that leaves its migration's index behind."""
    migrations = root / "schema" / "migrations"
    adt = migrations / "schema" / "0002_add_adt.sql"
    text = adt.read_text(encoding="utf-8")
    edited = text.replace(
        "CREATE TABLE admission_events", "CREATE TABLE IF NOT EXISTS admission_events"
    )
    assert edited != text
    adt.write_text(edited, encoding="utf-8")
    (migrations / "schema" / "0009_devices_by_model.sql").write_text(
        "-- find devices by model\nCREATE INDEX idx_devices_model ON devices (model);\n",
        encoding="utf-8",
    )
    (migrations / "rollback" / "0009_rollback.sql").write_text(
        "DROP INDEX IF EXISTS idx_device_model;\n", encoding="utf-8"
    )
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    quiet = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")  # hypothesis: start-up only
    return run(root, "-m", "pytest", *quiet, "-rA", *args)


def results(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """{node id: PASSED | FAILED | ERROR} from the short summary (-rA)."""
    return {nodeid: outcome for outcome, nodeid in RESULT.findall(done.stdout)}


def collected(root: Path, *args: str) -> set[str]:
    done = pytest_in(root, "--migration-guard", "--co", "-q", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return {line for line in done.stdout.splitlines() if line.startswith(TOP + "::")}


def item_of(check: str, path: str | None) -> str:
    """The item a case of `python -m ci` belongs to, worked out from its path alone."""
    if check in ("numbering", "checksums"):
        return f"{TOP}::{check}"
    match = MIGRATION.search(path or "")
    if match is None:
        name = "tree"
    elif match["folder"] == "seed":
        name = f"seed-{match['number']}"
    elif match["folder"] == "rollback" and check == "lint":
        name = f"rollback-{match['number']}"
    else:
        name = match["number"]
    return f"{TOP}::{check}::{name}"


def verdicts_of_python_m_ci(root: Path) -> tuple[int, set[str]]:
    """`python -m ci`'s exit code, and the items of its failing (or erroring) cases."""
    done = run(root, "-m", "ci", "--format", "json")
    report = json.loads(done.stdout)
    failing = {
        item_of(check["check"], case["path"])
        for check in report["checks"]
        for case in check["cases"]
        if case["outcome"] in ("failed", "error")
    }
    return done.returncode, failing


def test_the_worked_example_passes_every_item_as_python_m_ci_does(example: Path) -> None:
    code, failing = verdicts_of_python_m_ci(example)
    assert (code, failing) == (0, set())
    items = collected(example)
    assert f"{TOP}::apply_empty::0005" in items and f"{TOP}::lint::rollback-0005" in items
    done = pytest_in(example, "--migration-guard")
    assert done.returncode == 0, done.stdout
    assert results(done) == dict.fromkeys(items, "PASSED")


def test_a_broken_tree_fails_exactly_the_items_python_m_ci_reports(example: Path) -> None:
    code, failing = verdicts_of_python_m_ci(broken(example))
    assert code == 1
    assert {
        f"{TOP}::numbering",  # the gap
        f"{TOP}::checksums",  # the edit
        f"{TOP}::rollback_roundtrip::0009",  # the index left behind
    } <= failing
    items = collected(example)
    junit = example / "report.xml"
    done = pytest_in(
        example, "--migration-guard", f"--junitxml={junit}", "-o", "junit_family=xunit1"
    )
    assert done.returncode == 1
    outcome = results(done)
    assert {i for i, o in outcome.items() if o != "PASSED"} == failing
    assert {i for i, o in outcome.items() if o == "PASSED"} == items - failing
    assert "rollback/0009_rollback.sql: MG404 rolling back 0009" in done.stdout
    # pytest's own JUnit: one <failure> per failing item, with the finding as its text
    cases = ET.parse(junit).getroot().iter("testcase")
    failed = {
        f"{case.get('classname')}.{case.get('name')}": failure.text or ""
        for case in cases
        if (failure := case.find("failure")) is not None
    }
    assert set(failed) == {i.replace("/", ".").replace("::", ".") for i in failing}
    assert "MG102 gap: 0009 follows 0007" in failed["schema.migrations.numbering"]
    # with junit_family xunit1 a test case's file (and line) are the first finding's
    located = {
        f"{case.get('classname')}.{case.get('name')}": case.get("file")
        for case in ET.parse(junit).getroot().iter("testcase")
    }
    assert (
        located["schema.migrations.rollback_roundtrip.0009"] == f"{TOP}/rollback/0009_rollback.sql"
    )
    passing = located["schema.migrations.apply_empty.0005"]  # a passing item: its migration
    assert passing == f"{TOP}/data/0005_migrate_patient_ids_to_mrn.sql"
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit)


def test_xdist_workers_give_the_same_verdicts(example: Path) -> None:
    _, failing = verdicts_of_python_m_ci(broken(example))
    done = pytest_in(example, "--migration-guard", "-n", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 workers" in done.stdout
    outcome = results(done)
    assert {i for i, o in outcome.items() if o != "PASSED"} == failing
    assert len(outcome) == len(collected(example))


def test_k_selects_items_by_check_and_by_migration(example: Path) -> None:
    broken(example)
    done = pytest_in(example, "--migration-guard", "-k", "rollback_roundtrip and 0009")
    assert results(done) == {f"{TOP}::rollback_roundtrip::0009": "FAILED"}
    done = pytest_in(example, "--migration-guard", "-k", "apply_empty and not tree")
    assert done.returncode == 0, done.stdout
    assert set(results(done)) == {i for i in collected(example) if "::apply_empty::" in i} - {
        f"{TOP}::apply_empty::tree"
    }


def test_x_stops_at_the_first_failing_item(example: Path) -> None:
    broken(example)
    done = pytest_in(example, "--migration-guard", "-x")
    assert done.returncode == 1
    assert list(results(done).values()) == ["FAILED"]  # numbering, the first item
    assert "stopping after 1 failures" in done.stdout


def test_a_warning_passes_with_a_pytest_warning_unless_warnings_are_errors(example: Path) -> None:
    (example / "migration-guard.yaml").write_text(f"migrations_dir: {TOP}\nchecks: [lint]\n")
    (example / TOP / "schema" / "0008_nothing.sql").write_bytes(b"")  # MG500, a warning
    (example / TOP / "rollback" / "0008_rollback.sql").write_text("-- nothing to undo\n")
    assert run(example, "-m", "ci").returncode == 0
    done = pytest_in(example, "--migration-guard", "-k", "0008")
    assert done.returncode == 0, done.stdout
    assert results(done) == dict.fromkeys(
        [f"{TOP}::lint::0008", f"{TOP}::lint::rollback-0008"], "PASSED"
    )
    assert "0008_nothing.sql:1: MigrationGuardWarning: MG500 warning: empty file" in done.stdout
    done = pytest_in(example, "--migration-guard", "-k", "lint and 0008", "-W", WARNINGS)
    assert results(done)[f"{TOP}::lint::0008"] == "FAILED"


def test_a_check_that_cannot_run_errors_its_items(example: Path) -> None:
    config = example / "migration-guard.yaml"
    config.write_text(config.read_text().replace("sample_data.sql", "missing.sql"))
    code, failing = verdicts_of_python_m_ci(example)
    assert code == 2  # could not run: its one <error> case has no path
    assert {i for i in failing if "::apply_sample::" in i} == {f"{TOP}::apply_sample::tree"}
    done = pytest_in(example, "--migration-guard", "-k", "apply_sample")
    items = {i for i in collected(example) if "::apply_sample::" in i}
    assert results(done) == dict.fromkeys(items, "ERROR")  # every item of the check, at setup
    said = "apply_sample could not run: migration-guard.yaml: sample: schema/sample/missing.sql"
    assert f"{said}: sample not found" in done.stdout


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("checks: [numbering, nope]\n", "migration-guard.yaml: checks: unknown check 'nope'"),
        ("migratons_dir: schema\n", "migration-guard.yaml: unknown key migratons_dir"),
    ],
)
def test_an_unusable_config_is_one_usage_line(example: Path, config: str, said: str) -> None:
    (example / "migration-guard.yaml").write_text(config)
    done = pytest_in(example, "--migration-guard")
    assert done.returncode == 4  # pytest's usage error
    assert said in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_off_by_default_and_on_from_the_ini(example: Path) -> None:
    done = pytest_in(example, "--co", "-q")
    assert done.returncode == 5  # no tests collected: the option is off
    (example / "pytest.ini").write_text("[pytest]\nmigration_guard = true\n")
    done = pytest_in(example, "--co", "-q")
    assert f"{TOP}::numbering" in done.stdout


def test_a_config_named_in_the_ini_is_read_from_the_rootdir(example: Path) -> None:
    (example / "migration-guard.yaml").rename(example / "schema" / "guard.yaml")
    ini = "[pytest]\nmigration_guard = true\nmigration_guard_config = schema/guard.yaml\n"
    (example / "pytest.ini").write_text(ini)
    items = collected(example)
    assert f"{TOP}::apply_sample::0005" in items  # sample: is set in that file only


def test_with_the_option_off_the_plugin_imports_nothing_of_migration_guard(
    example: Path,
) -> None:
    """A pytest run only registers the options and fixtures: nothing of ci.* beyond the
    plugin module itself is imported (the start-up figures are in the branch's note)."""
    (example / "conftest.py").write_text(
        "import sys\n\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = sorted(m for m in sys.modules if m == 'ci' or m.startswith('ci.'))\n"
        "    print('LOADED', loaded)\n"
    )
    done = pytest_in(example, "--co", "-q", "-s")
    assert "LOADED ['ci', 'ci.pytest_plugin']" in done.stdout


def test_each_selected_check_runs_once_and_a_deselected_one_never(example: Path) -> None:
    (example / "conftest.py").write_text(
        "from ci.app import pytest_checks\n\n"
        "RAN = []\n"
        "real = pytest_checks.run_into\n\n"
        "def counted(name, collector):\n"
        "    RAN.append(name)\n"
        "    return real(name, collector)\n\n"
        "pytest_checks.run_into = counted\n\n"
        "def pytest_sessionfinish(session):\n"
        "    print('RAN', RAN)\n"
    )
    done = pytest_in(example, "--migration-guard", "-s", "-k", "numbering or apply_empty")
    assert done.returncode == 0, done.stdout
    assert len(results(done)) == 11  # numbering, and apply_empty's 9 migrations and tree
    assert "RAN ['numbering', 'apply_empty']" in done.stdout
