"""Messages a person can act on: hints that follow what SQLite said, findings that name their
database, no Python `None`, one-line argument errors, the project root found from a subfolder,
real JUnit durations."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from ci import apply_empty, apply_sample, rollback_roundtrip
from ci.__main__ import main as ci_main
from ci.checks.lint import lint
from tests.conftest import JUNIT_XSD, M, WriteTree, git, run_module

PATIENTS = {
    f"{M}/schema/0001_patients.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
}
SAMPLE = (
    "-- @sample-version 1\nINSERT INTO patients (id, mrn) VALUES (1, 'M1'), (2, 'M1'), (3, NULL);\n"
)


def to_fix(output: str, code: str) -> str:
    """The "To fix" part of the first `code` finding in a text report."""
    line = next(line for line in output.splitlines() if f" {code} " in line)
    return line.split("To fix: ", 1)[1]


# --- MG301: the hint follows what SQLite said ------------------------------------------------


def test_a_syntax_error_is_not_told_to_add_a_default(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **PATIENTS,
            "sample.sql": SAMPLE,
            f"{M}/schema/0002_typo.sql": "UPDATE patients SET mrn = WHERE id = 1;\n",
            f"{M}/rollback/0002_rollback.sql": "SELECT 1;\n",
        }
    )
    args = ["--migrations-dir", str(root / M)]
    assert apply_sample.main([*args, "--sample", str(root / "sample.sql")]) == 1
    hint = to_fix(capsys.readouterr().out, "MG301")
    assert "syntax" in hint and "DEFAULT" not in hint
    assert apply_empty.main(args) == 1
    assert "syntax" in to_fix(capsys.readouterr().out, "MG301")


def test_a_unique_failure_on_sample_data_is_about_duplicate_rows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **PATIENTS,
            "sample.sql": SAMPLE,
            f"{M}/schema/0002_mrn.sql": "CREATE UNIQUE INDEX patients_mrn ON patients (mrn);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP INDEX patients_mrn;\n",
        }
    )
    code = apply_sample.main(
        ["--migrations-dir", str(root / M), "--sample", str(root / "sample.sql")]
    )
    assert code == 1
    hint = to_fix(capsys.readouterr().out, "MG301")
    assert "duplicate" in hint and "patients.mrn" in hint and "DEFAULT" not in hint


def test_a_missing_table_is_about_the_order_of_migrations(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({f"{M}/schema/0001_idx.sql": "CREATE INDEX i ON nowhere (a);\n"})
    assert apply_empty.main(["--migrations-dir", str(root / M)]) == 1
    hint = to_fix(capsys.readouterr().out, "MG301")
    assert "nowhere" in hint and "earlier migration" in hint


def test_hints_are_a_table_with_a_fallback() -> None:
    from ci.db.sqlite_hints import fix_for

    assert "no value for t.a" in fix_for("NOT NULL constraint failed: t.a", on_sample=True)
    assert "DEFAULT" in fix_for("Cannot add a NOT NULL column with default value NULL")
    assert fix_for("something nobody has seen") == "fix the statement on that line"
    assert "existing rows" in fix_for("something nobody has seen", on_sample=True)


# --- round trip: MG405 blames the rollback; findings name their database ---------------------


def test_a_reapply_that_trips_over_a_leftover_blames_the_rollback(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **PATIENTS,
            f"{M}/schema/0002_x.sql": "CREATE TABLE x (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DELETE FROM x;\n",
        }
    )
    assert rollback_roundtrip.main(["--migrations-dir", str(root / M), "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if " MG405 " in line)
    assert line.startswith(str(root / M / "rollback" / "0002_rollback.sql"))
    assert "did not drop table x" in line
    assert "0002_rollback.sql" in to_fix(out, "MG405")


def test_round_trip_findings_say_which_database(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = write_tree(
        {
            **PATIENTS,
            "sample.sql": SAMPLE,
            f"{M}/schema/0002_mrn.sql": "CREATE INDEX IF NOT EXISTS p_mrn ON patients (mrn);\n",
            f"{M}/rollback/0002_rollback.sql": "SELECT 1;\n",
            f"{M}/schema/0003_z.sql": "CREATE TABLE z (a);\n",
            f"{M}/schema/0004_typo.sql": "CREAT TABLE y (a);\n",
            f"{M}/rollback/0004_rollback.sql": "DROP TABLE y;\n",
        }
    )
    junit, summary = tmp_path / "r.xml", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = ["--migrations-dir", str(root / M), "--jobs", "1", "--sample", str(root / "sample.sql")]
    assert rollback_roundtrip.main([*args, "--junit", str(junit), "--format", "text"]) == 1
    out = capsys.readouterr().out
    findings = [line for line in out.splitlines() if re.search(r" MG\d+ ", line)]
    assert len(findings) == len(set(findings)), out  # nothing printed twice
    mg404 = [line for line in findings if " MG404 " in line]
    assert len(mg404) == 2
    assert any("empty database" in line for line in mg404)
    assert any("sample data" in line for line in mg404)
    assert sum(" MG401 " in line for line in findings) == 1  # the same file, said once
    mg301 = [line for line in findings if " MG301 " in line]
    assert len(mg301) == 2 and "empty database" in mg301[0] and "sample data" in mg301[1]
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit)
    failures = [f.get("message", "") for f in ET.parse(junit).iter("failure")]
    assert any("empty database" in m for m in failures)
    assert any("sample data" in m for m in failures)
    assert rollback_roundtrip.main([*args, "--format", "github"]) == 1
    text = summary.read_text()
    assert "empty database" in text and "sample data" in text


# --- never Python's None -------------------------------------------------------------------


def test_no_message_ever_says_none(write_tree: WriteTree, tmp_path: Path) -> None:
    """A broad run: every database check failing in many ways, status, the aggregate run."""
    root = write_tree(
        {
            f"{M}/schema/0001_t.sql": (
                "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT);\n"
                "CREATE INDEX t_expr ON t (a + 1);\n"
            ),
            f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;\n",
            f"{M}/schema/0002_default.sql": (
                "CREATE TABLE t2 (id INTEGER PRIMARY KEY, a INTEGER, b TEXT);\n"
                "INSERT INTO t2 SELECT id, a, b FROM t;\nDROP TABLE t;\n"
                "ALTER TABLE t2 RENAME TO t;\n"
            ),
            f"{M}/rollback/0002_rollback.sql": (
                "CREATE TABLE t2 (id INTEGER PRIMARY KEY, a INTEGER DEFAULT 0, b TEXT);\n"
                "INSERT INTO t2 SELECT id, a, b FROM t;\nDROP TABLE t;\n"
                "ALTER TABLE t2 RENAME TO t;\nCREATE INDEX t_expr ON t (a * 2);\n"
            ),
            f"{M}/schema/0003_u.sql": "CREATE TABLE u (a UNIQUE);\n",
            f"{M}/rollback/0003_rollback.sql": "SELECT 1;\n",
            f"{M}/data/0004_fill.sql": "INSERT INTO u VALUES (1), (1);\n",
            "sample.sql": (
                "-- @sample-version 1\nINSERT INTO t (id, a, b) VALUES (1, NULL, NULL);\n"
            ),
        }
    )
    db = tmp_path / "app.db"
    empty_values = tmp_path / "empty-values.yaml"
    empty_values.write_text("base_ref:\n")  # YAML: an empty value
    outputs = []
    for module, *args in (
        ("ci.rollback_roundtrip", "--jobs", "1", "--sample", str(root / "sample.sql")),
        ("ci.apply_sample", "--sample", str(root / "sample.sql")),
        ("ci.apply_empty",),
        ("ci.migrate", "--db", str(db), "--target", "3", "--no-backup"),
        ("ci.migrate", "--db", str(db), "--status"),
        ("ci.numbering", "--config", str(empty_values)),
        ("ci", "--sample", str(root / "sample.sql"), "--format", "json"),
        ("ci", "--sample", str(root / "sample.sql"), "--format", "github"),
    ):
        done = run_module(module, "--migrations-dir", str(root / M), *args, cwd=root)
        outputs.append(f"$ {module} {args}\n{done.stdout}{done.stderr}")
    everything = "\n".join(outputs)
    assert "MG404" in everything and "MG301" in everything  # the scenario did fail broadly
    assert "Traceback" not in everything
    assert not re.search(r"\bNone\b", everything), everything


# --- argument errors -------------------------------------------------------------------------


# the arguments each command requires, so that only the option under test is wrong
REQUIRED = {"ci.migrate": ["--db", "app.db"], "ci.new": ["schema", "add_x"]}


@pytest.mark.parametrize("module", ["ci", "ci.numbering", "ci.migrate", "ci.new", "ci.lint"])
def test_an_unknown_option_is_one_line_and_a_hint(module: str, tmp_path: Path) -> None:
    done = run_module(module, *REQUIRED.get(module, []), "--no-such-option", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    assert "--no-such-option" in lines[0] and "usage:" not in done.stderr
    assert "--help" in lines[1]


@pytest.mark.parametrize(
    ("module", "abbreviation"),
    [
        ("ci", "--migrations"),
        ("ci.numbering", "--migrations"),
        ("ci.migrate", "--stat"),
        ("ci.new", "--migrations"),
        ("ci.apply_empty", "--write-snap"),
    ],
)
def test_abbreviations_are_not_guessed(module: str, abbreviation: str, tmp_path: Path) -> None:
    done = run_module(module, *REQUIRED.get(module, []), abbreviation, "x", cwd=tmp_path)
    assert done.returncode == 2
    assert f"unrecognized arguments: {abbreviation}" in done.stderr, done.stderr
    assert not (tmp_path / "app.db").exists() and not (tmp_path / "schema").exists()


def test_a_bad_value_from_the_config_file_names_the_file_and_key(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree({**PATIENTS, "migration-guard.yaml": "migrations_dir: db/migraions\n"})
    monkeypatch.chdir(root)
    assert ci_main(["--checks", "numbering,checksums"]) == 2
    err = capsys.readouterr().err
    assert "migration-guard.yaml" in err and "migrations_dir" in err, err
    (root / "migration-guard.yaml").write_text("checks: [numbering, nope]\n")
    assert ci_main([]) == 2
    err = capsys.readouterr().err
    assert "migration-guard.yaml" in err and "checks" in err and "nope" in err, err


# --- python -m ci from a subfolder -----------------------------------------------------------


def test_python_m_ci_from_a_subfolder_finds_the_project_root(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        {
            **PATIENTS,
            "migration-guard.yaml": "checks: [numbering, apply_empty]\n",
            "src/app/readme.txt": "",
        }
    )
    junit = "out.xml"
    done = run_module("ci", "--junit", junit, cwd=root / "src" / "app")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "src" / "app" / junit).is_file()  # a relative path means where it was typed
    assert "OK numbering, apply_empty" in done.stdout


def test_python_m_ci_in_a_git_subfolder_without_config_uses_the_top_level(
    git_repo: Path,
) -> None:
    for relative, text in PATIENTS.items():
        (git_repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / relative).write_text(text)
    (git_repo / "docs").mkdir()
    git(git_repo, "add", "-A")
    done = run_module("ci", "--checks", "numbering", cwd=git_repo / "docs")
    assert done.returncode == 0, done.stdout + done.stderr


def test_identical_errors_of_several_checks_are_printed_once(tmp_path: Path) -> None:
    done = run_module("ci", cwd=tmp_path)  # no config, no git, no migrations here
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "schema/migrations" in lines[0] and "project root" in lines[0]


# --- JUnit durations -------------------------------------------------------------------------


def test_junit_times_are_real_durations(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(
        {
            **PATIENTS,
            f"{M}/schema/0002_more.sql": "CREATE TABLE more (id INTEGER PRIMARY KEY);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE more;\n",
        }
    )
    junit = tmp_path / "all.xml"
    checks = "numbering,lint,apply_empty,rollback_roundtrip"  # no lock file here
    done = run_module(
        "ci", "--migrations-dir", str(root / M), "--checks", checks, "--junit", str(junit), cwd=root
    )
    assert done.returncode == 0, done.stdout + done.stderr
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit)
    tree = ET.parse(junit).getroot()
    suites = {s.get("name"): s for s in tree.iter("testsuite")}
    lint_cases = list(suites["lint"].iter("testcase"))
    assert lint_cases and all(float(c.get("time", "0")) > 0 for c in lint_cases)
    spent = {}
    for name, suite in suites.items():
        cases = sum(float(c.get("time", "0")) for c in suite.iter("testcase"))
        spent[name] = float(suite.get("time", "0"))
        assert spent[name] >= cases - 0.002, name
    # a suite is the check's wall time: lint's includes loading sqlfluff, which no case has
    assert spent["lint"] > sum(float(c.get("time", "0")) for c in lint_cases)
    total = float(tree.get("time", "0"))
    assert total == pytest.approx(sum(spent.values()), abs=0.01)


def test_lint_cases_have_their_own_time(write_tree: WriteTree) -> None:
    root = write_tree(PATIENTS)
    report = lint([], migrations_dir=root / M)
    assert all(case.time > 0 for case in report.cases)
