"""SARIF 2.1.0 (`--format sarif`, `python -m ci --sarif FILE`): real runs, the OASIS schema.

The worked example is copied and broken (a gap, a migration without rollback or lock entry that
drops a table the invariants need, an UPDATE without WHERE, an edited lock entry), then
`python -m ci` runs as a real process writing SARIF, GitLab Code Quality and JSON in one run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ci.core.codes import CODES
from ci.core.findings import Case, Finding, Report
from ci.reports.sarif import FINGERPRINT_KEY, sarif_document
from tests.conftest import REPO, M, git, output, run_in

SCHEMAS = REPO / "tests" / "data" / "schemas"
SARIF_SCHEMA = SCHEMAS / "sarif-schema-2.1.0.json"
CONFIG = "schema/migration-guard.yaml"
# the statement MG502 points at, in the migration that the tests move down the file
UNBOUNDED = "UPDATE devices SET device_label = 'checked';\n"


def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def broken_example(root: Path) -> Path:
    """The worked example in a git repository, with findings of several checks injected."""
    shutil.copytree(REPO / "schema", root / "schema")
    git(root, "init", "-q", "-b", "main")
    (root / f"{M}/schema/0009_drop_patients.sql").write_text(
        "-- the invariants read patients: apply_empty cannot evaluate them\nDROP TABLE patients;\n",
        encoding="utf-8",
    )
    (root / f"{M}/data/0010_touch.sql").write_text(
        "-- @irreversible a test of lint\n" + UNBOUNDED, encoding="utf-8"
    )
    edited = root / f"{M}/schema/0001_initial.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `python -m ci` run over the broken example: its SARIF, GitLab and JSON reports."""
    root = broken_example(tmp_path_factory.mktemp("sarif") / "repo")
    done = run_in(
        root,
        "ci",
        "--config",
        CONFIG,
        "--format",
        "json",
        "--sarif",
        "reports/out.sarif",
        "--codequality",
        "reports/gl-code-quality-report.json",
    )
    return {
        "root": root,
        "done": done,
        "json": json.loads(done.stdout),
        "sarif": json.loads((root / "reports/out.sarif").read_text(encoding="utf-8")),
        "gitlab": json.loads(
            (root / "reports/gl-code-quality-report.json").read_text(encoding="utf-8")
        ),
    }


def json_issue_count(document: dict[str, Any]) -> int:
    """Findings plus checks that could not run, as the JSON report of the same run has them."""
    cases = [case for check in document["checks"] for case in check["cases"]]
    return sum(len(c["findings"]) for c in cases) + sum(c["error"] is not None for c in cases)


def test_the_broken_example_is_valid_sarif_with_every_finding(broken_run: dict[str, Any]) -> None:
    done = broken_run["done"]
    assert done.returncode == 2, output(done)  # apply_empty could not run: 2 outranks 1
    sarif = broken_run["sarif"]
    sarif_validator().validate(sarif)
    (run,) = sarif["runs"]
    results = run["results"]
    assert len(results) == json_issue_count(broken_run["json"]) > 5
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules[: len(CODES)]] == [c.code for c in CODES]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert len(result["partialFingerprints"][FINGERPRINT_KEY]) >= 64
    codes = {r["ruleId"] for r in results}
    assert {"MG102", "MG107", "MG204", "MG210", "MG502", "could-not-run"} <= codes, codes
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["message"]["text"].startswith("apply_empty could not run: ")


def test_locations_are_relative_to_the_repository_root(broken_run: dict[str, Any]) -> None:
    (run,) = broken_run["sarif"]["runs"]
    root = Path(broken_run["root"])
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == root.resolve().as_uri() + "/"
    by_code = {r["ruleId"]: r for r in run["results"]}
    (lint,) = by_code["MG502"]["locations"]
    assert lint["physicalLocation"] == {
        "artifactLocation": {"uri": f"{M}/data/0010_touch.sql", "uriBaseId": "SRCROOT"},
        "region": {"startLine": 2},
    }
    # a check that could not run still appears, at the config file
    (where,) = by_code["could-not-run"]["locations"]
    assert where["physicalLocation"]["artifactLocation"]["uri"] == CONFIG
    assert "could not run" in by_code["could-not-run"]["message"]["text"]
    for result in run["results"]:
        for location in result.get("locations", []):
            uri = location["physicalLocation"]["artifactLocation"]["uri"]
            assert not uri.startswith(("/", "file:")) and (root / uri).exists(), uri


def lint_sarif(root: Path) -> dict[str, Any]:
    done = run_in(root, "ci.lint", "--all", "--format", "sarif", f"{M}/data/0010_touch.sql")
    assert done.returncode == 1, output(done)
    document: dict[str, Any] = json.loads(done.stdout)
    sarif_validator().validate(document)
    return document


def mg502(document: dict[str, Any]) -> tuple[int, str]:
    (result,) = [r for r in document["runs"][0]["results"] if r["ruleId"] == "MG502"]
    line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
    return line, result["partialFingerprints"][FINGERPRINT_KEY]


def test_a_finding_that_moves_keeps_its_fingerprint(git_repo: Path) -> None:
    migration = git_repo / f"{M}/data/0010_touch.sql"
    migration.parent.mkdir(parents=True)
    migration.write_text("-- @irreversible a test\n" + UNBOUNDED, encoding="utf-8")
    line, before = mg502(lint_sarif(git_repo))
    migration.write_text("-- @irreversible a test\n-- one\n-- two\n-- three\n" + UNBOUNDED)
    moved_line, moved = mg502(lint_sarif(git_repo))
    assert (line, moved_line) == (2, 5)
    assert moved == before
    migration.write_text("-- @irreversible a test\nUPDATE devices SET device_label = 'other';\n")
    assert mg502(lint_sarif(git_repo))[1] != before  # another statement: another finding


def test_a_check_that_could_not_run_is_a_result(tmp_path: Path) -> None:
    done = run_in(tmp_path, "ci.numbering", "--migrations-dir", "missing", "--format", "sarif")
    assert done.returncode == 2, output(done)
    document = json.loads(done.stdout)
    sarif_validator().validate(document)
    (run,) = document["runs"]
    (result,) = run["results"]
    assert result["ruleId"] == "could-not-run" and result["level"] == "error"
    assert run["invocations"][0]["executionSuccessful"] is False
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "missing"


def test_sarif_never_overwrites_a_file_that_is_not_one(tmp_path: Path) -> None:
    root = broken_example(tmp_path / "repo")
    precious = root / "package.json"
    precious.write_text('{"name": "app"}\n', encoding="utf-8")
    for target in ("package.json", f"{M}/schema/0001_initial.sql"):
        before = (root / target).read_bytes()
        done = run_in(root, "ci", "--checks", "numbering", "--sarif", target)
        assert done.returncode == 2, output(done)
        assert done.stderr.count("\n") == 1 and "--sarif" in done.stderr, done.stderr
        assert (root / target).read_bytes() == before
    # a previous SARIF report is replaced
    first = run_in(root, "ci", "--checks", "numbering", "--sarif", "out.sarif")
    again = run_in(root, "ci", "--checks", "numbering", "--sarif", "out.sarif")
    assert (first.returncode, again.returncode) == (1, 1), output(again)
    sarif_validator().validate(json.loads((root / "out.sarif").read_text(encoding="utf-8")))


def test_rules_carry_the_registry_and_links_when_the_project_has_a_home(tmp_path: Path) -> None:
    finding = Finding("lint", "MG503", "x.sql", 3, "DROP TABLE outside rollback/", "keep it")
    warning = Finding("apply_empty", "MG603", "x.sql", None, "renamed", severity="warning")
    reports = [Report("lint", [Case("x", "lint", findings=[finding, warning])])]
    document = sarif_document(reports, root=tmp_path, home="https://example.org/mg")
    sarif_validator().validate(document)
    driver = document["runs"][0]["tool"]["driver"]  # type: ignore[index]
    assert driver["informationUri"] == "https://example.org/mg"
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert rules["MG503"]["helpUri"] == "https://example.org/mg/blob/main/docs/rules/MG503.md"
    assert rules["MG101"]["helpUri"].endswith("/docs/codes/MG101.md")
    assert rules["MG603"]["defaultConfiguration"] == {"level": "warning"}
    levels = [r["level"] for r in document["runs"][0]["results"]]  # type: ignore[index]
    assert levels == ["error", "warning"]
    without = sarif_document(reports, root=tmp_path, home="")
    assert "informationUri" not in without["runs"][0]["tool"]["driver"]  # type: ignore[index]


def test_sarif_is_imported_only_when_asked_for() -> None:
    probe = (
        "import sys, ci.numbering, ci.app.run_all; print([m for m in sys.modules if m in NAMES])"
    )
    probe = probe.replace("NAMES", repr(("ci.reports.sarif", "ci.reports.gitlab", "json")))
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
