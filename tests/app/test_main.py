"""python -m ci / migration-guard: every check in one process, one JUnit file."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
from junitparser import JUnitXml

from ci.__main__ import cli, main, selected_checks
from tests.conftest import FIRST, JUNIT_XSD, REPO, M, WriteTree, files_of, run_module

BROKEN = {
    **FIRST,
    f"{M}/schema/0002_a.sql": "CREATE INDEX t_a ON t (a);\n",
    f"{M}/rollback/0002_rollback.sql": "DROP INDEX t_a;\n",
    f"{M}/schema/0002_b.sql": "CREATE TABLE u (a INTEGER REFERENCES nowhere_at_all);\n",
    f"{M}/data/0003_wipe.sql": "DELETE FROM t;\n",
    f"{M}/rollback/0003_rollback.sql": "SELECT 1;\n",
}


def suites(junit: Path) -> dict[str, list[object]]:
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit)
    return {suite.name: list(suite) for suite in JUnitXml.fromfile(str(junit))}


def test_worked_example_with_sample_in_one_process(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    # the example's config names the sample: apply_sample joins the default checks
    done = run_module(
        "ci", "--config", "schema/migration-guard.yaml", "--junit", str(junit), cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = suites(junit)
    assert list(found) == [
        "numbering",
        "checksums",
        "lint",
        "apply_empty",
        "apply_sample",
        "rollback_roundtrip",
    ]
    assert all(found.values()), "every check reports at least one case"
    errors = [c for cases in found.values() for c in cases if c.is_error]  # type: ignore[attr-defined]
    assert not errors, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1].startswith("OK numbering, checksums, lint, apply_empty,")


def test_failing_fixture_reports_each_check(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(BROKEN)
    junit = tmp_path / "junit.xml"
    code = main(
        [
            *("--migrations-dir", str(root / M), "--checks", "numbering,lint"),
            *("--junit", str(junit), "--checks", "apply-empty", "--no-sqlfluff"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    found = suites(junit)
    assert list(found) == ["numbering", "lint", "apply_empty"]
    assert any(c.is_failure for c in found["numbering"])  # type: ignore[attr-defined]
    assert "MG101" in out  # duplicate 0002
    assert out.splitlines()[-1].startswith("FAILED numbering, lint, apply_empty:")


def test_a_check_that_cannot_run_is_an_error_case_and_exit_2(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    done = run_module(
        "ci",
        "--migrations-dir",
        str(tmp_path / "absent"),
        "--checks",
        "numbering,checksums",
        "--junit",
        str(junit),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    # one reason, said once for both checks
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == ["numbering, checksums"]
    for cases in suites(junit).values():
        assert [c.is_error for c in cases] == [True]  # type: ignore[attr-defined]


def test_options_reach_only_the_checks_that_have_them(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({k: v for k, v in BROKEN.items() if "0002_b" not in k and "0003" not in k})
    lock = root / "elsewhere.lock"
    code = main(
        [
            *("--migrations-dir", str(root / M), "--checks", "numbering,checksums"),
            *("--lock", str(lock)),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2  # numbering has no --lock and ran; checksums was told a lock that is absent
    assert f"checksums: {lock}: lock file not found" in captured.err
    assert "  OK numbering: 1 passed" in captured.out  # numbering itself ran and passed
    assert captured.out.splitlines()[-1].startswith("FAILED numbering, checksums")


def test_config_selects_checks_and_the_command_line_wins(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(BROKEN)
    monkeypatch.chdir(root)
    (root / "migration-guard.yaml").write_text("checks: [numbering]\nformat: json\n")
    assert main([]) == 1
    assert '"check": "numbering"' in capsys.readouterr().out
    assert main(["--checks", "lint", "--no-sqlfluff", "--format", "text"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAILED lint:")


def test_selection_rules() -> None:
    default = ["numbering", "checksums", "lint", "apply_empty", "rollback_roundtrip"]
    assert selected_checks(None, sample=False) == default
    assert "apply_sample" in selected_checks(None, sample=True)
    assert selected_checks(["rollback, numbering", "apply-sample"], sample=False) == [
        "numbering",
        "apply_sample",
        "rollback_roundtrip",
    ]
    with pytest.raises(ValueError, match="unknown check 'numbers'"):
        selected_checks(["numbers"], sample=False)


def test_unknown_check_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--checks", "numbers"]) == 2
    assert capsys.readouterr().err.strip().startswith("python -m ci: unknown check 'numbers'")


def test_cli_subcommands_delegate(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(BROKEN)
    assert cli(["numbering", "--migrations-dir", str(root / M)]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAILED numbering:")
    assert cli(["check", "--checks", "numbering", "--migrations-dir", str(root / M)]) == 1
    assert cli(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert cli(["--help"]) == 0
    assert "apply-empty" in capsys.readouterr().out


def test_console_script_is_installed(write_tree: WriteTree) -> None:
    script = shutil.which("migration-guard")
    assert script, "pip install -e . installs the migration-guard console script"
    root = write_tree(BROKEN)
    done = subprocess.run(
        [script, "rollback", "--help"], capture_output=True, text=True, check=False, cwd=root
    )
    assert done.returncode == 0 and "--sample" in done.stdout, done.stderr


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    """`migration-guard --version` and `python -m ci --version`, run from anywhere (no config,
    no migrations): the version pip installed, so ci.__version__ cannot drift from pyproject."""
    script = shutil.which("migration-guard")
    assert script, "pip install -e . installs the migration-guard console script"
    expected = f"migration-guard {importlib.metadata.version('migration-guard')}\n"
    for command in ([script, "--version"], [sys.executable, "-m", "ci", "--version"]):
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (0, expected, ""), command


def test_an_explicit_config_reaches_every_check(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(BROKEN)
    monkeypatch.chdir(root)
    (root / "migration-guard.yaml").write_text("migrations_dir: nowhere\n")
    (root / "other.yaml").write_text(f"migrations_dir: {M}\nchecks: numbering,checksums\n")
    assert main(["--config", "other.yaml"]) == 1, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "MG101" in out and out.splitlines()[-1].startswith("FAILED numbering, checksums:")


@pytest.mark.parametrize(
    ("args", "config", "refused"),
    [
        (["--update"], None, "refusing --update: python -m ci only checks"),
        (["--rehash", f"{M}/schema/0001_init.sql"], None, "refusing --rehash: "),
        (["--schema-snapshot", "s.sql", "--write-snapshot"], None, "refusing --write-snapshot: "),
        ([], "update: true\n", "refusing --update (in migration-guard.yaml): "),
        (
            [],
            "checksums:\n  update: true\n",
            "--update (in migration-guard.yaml, section checksums)",
        ),
        (
            ["--checks", "numbering"],  # refused even where no selected check would write
            "apply_empty:\n  schema_snapshot: s.sql\n  write_snapshot: true\n",
            "--write-snapshot (in migration-guard.yaml, section apply_empty)",
        ),
    ],
    ids=["update", "rehash", "write_snapshot", "yaml", "yaml_section", "yaml_other_check"],
)
def test_options_that_write_are_refused_by_python_m_ci(
    write_tree: WriteTree, args: list[str], config: str | None, refused: str
) -> None:
    """CI runs `python -m ci`: it must never rewrite the lock or the snapshot, even when told."""
    root = write_tree({**FIRST, **({"migration-guard.yaml": config} if config else {})})
    before = files_of(root)
    done = run_module("ci", *args, cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    if lines[0].startswith("python -m ci: migration-guard.yaml: "):
        # a top-level key: refused by the config reader itself, for every command alike
        flag = refused[refused.index("--") :].split()[0]
        assert f"give {flag} on the command line" in lines[0]
    else:
        assert lines[0].startswith("python -m ci: refusing --"), done.stderr
        assert refused in lines[0]
        assert "never rewrites the lock file or the schema snapshot; run python -m ci." in lines[0]
    assert files_of(root) == before  # no lock, no snapshot, nothing else written


def test_a_writing_option_set_to_false_is_not_refused(write_tree: WriteTree) -> None:
    root = write_tree({**FIRST, "migration-guard.yaml": "update: false\nchecks: [numbering]\n"})
    done = run_module("ci", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_module("ci.checksums", "--update", cwd=root)  # the single check still writes
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "schema" / "migrations.lock").is_file()
