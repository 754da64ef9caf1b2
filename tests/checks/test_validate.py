"""ci.checks.validate: what the database checks share, called as apply_empty, apply_sample and
rollback_roundtrip call it: their options (declared as data in ci.checks.db_options), migrations
as test cases, and the validation after the last migration (integrity, foreign keys, version,
invariants, schema snapshot).

Real SQLite files on a check's private connection (ci.db.runner.connect, durable=False); no mocks.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.checks import options as declared
from ci.checks.db_options import OPTIONS, Options, busy_timeout_option
from ci.checks.validate import (
    apply_case,
    catalog_cases,
    could_not_run,
    load_invariants,
    new_runner,
    not_run,
    options_from,
    validate,
)
from ci.core.errors import UsageError
from ci.core.findings import Case
from ci.core.model import discover
from ci.db import runner
from tests.conftest import MIGRATIONS, WriteTree, tree

TWO = {
    "schema/0001_patients.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);\n",
    "schema/0002_vitals.sql": (
        "CREATE TABLE vitals (id INTEGER PRIMARY KEY,\n"
        "  patient_id INTEGER REFERENCES patients(id));\n"
        "INSERT INTO patients VALUES (1, NULL);\n"
    ),
}


def options(**changes: object) -> Options:
    values: dict[str, object] = {
        "setup": None,
        "invariants": None,
        "snapshot": None,
        "write_snapshot": False,
        "warn_slow": 300.0,
    }
    return Options(**(values | changes))  # type: ignore[arg-type]


class Check:
    """A check's private database with the runner new_runner makes for it."""

    def __init__(self, root: Path, db: Path, opts: Options) -> None:
        self.catalog = discover(root / MIGRATIONS)
        self.conn = runner.connect(db, durable=False)
        self.options = opts
        self.run = new_runner(self.conn, self.catalog, opts)

    def apply_all(self) -> list[Case]:
        return [apply_case("apply_empty", self.run, m, self.options) for m in self.catalog.main]


@pytest.fixture
def check(write_tree: WriteTree, tmp_path: Path) -> Iterator[Check]:
    made = Check(write_tree(tree(TWO)), tmp_path / "check.db", options())
    yield made
    made.conn.close()


def parsed(*argv: str) -> argparse.Namespace:
    """`argv` parsed by the options a database check that reads a sample declares (as
    apply_sample declares them: every database check's, then --busy-timeout)."""
    parser = argparse.ArgumentParser()
    declared.add_all(parser, (*OPTIONS, busy_timeout_option()))
    return parser.parse_args(argv)


def test_options_from_the_command_line_with_their_defaults() -> None:
    made = options_from(parsed())
    assert made == Options(None, None, None, False, 300.0, 30.0, 300.0)
    made = options_from(
        parsed("--warn-slow", "2", "--statement-timeout", "0", "--busy-timeout", "1")
    )
    assert (made.warn_slow, made.statement_timeout, made.busy_timeout) == (2.0, None, 1.0)


def test_write_snapshot_needs_a_snapshot_path() -> None:
    with pytest.raises(UsageError, match=r"^--write-snapshot needs --schema-snapshot FILE$"):
        options_from(parsed("--write-snapshot"))


def test_a_setup_that_does_not_import_is_refused_before_any_work() -> None:
    with pytest.raises(UsageError, match=r"--setup no_such_module_here:f: cannot import"):
        options_from(parsed("--setup", "no_such_module_here:f"))


def test_each_migration_is_a_passing_case_with_its_rows(check: Check) -> None:
    cases = check.apply_all()
    assert [(c.name, c.classname, c.kind, c.rows, c.outcome) for c in cases] == [
        ("0001 schema/0001_patients.sql", "apply_empty", "schema", 0, "passed"),
        ("0002 schema/0002_vitals.sql", "apply_empty", "schema", 1, "passed"),
    ]
    assert cases[0].path is not None and cases[0].path.endswith("schema/0001_patients.sql")


def test_a_failing_migration_names_its_line_and_is_rolled_back(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    broken = {
        **TWO,
        "schema/0002_vitals.sql": "CREATE TABLE v (a);\nINSERT INTO nowhere VALUES (1);\n",
    }
    made = Check(write_tree(tree(broken)), tmp_path / "check.db", options())
    try:
        first, second = made.apply_all()
        assert first.outcome == "passed"
        (finding,) = second.findings
        assert (finding.code, finding.line, finding.message) == (
            "MG301",
            2,
            "no such table: nowhere",
        )
        assert finding.path.endswith("0002_vitals.sql")
        assert finding.hint.endswith("; the migration was rolled back")
        tables = made.conn.execute("SELECT name FROM sqlite_master WHERE name = 'v'").fetchall()
        assert tables == []
    finally:
        made.conn.close()


def test_a_slow_migration_is_a_warning_that_passes(write_tree: WriteTree, tmp_path: Path) -> None:
    made = Check(write_tree(tree(TWO)), tmp_path / "check.db", options(warn_slow=-1.0))
    try:
        case = made.apply_all()[0]
    finally:
        made.conn.close()
    (finding,) = case.findings
    assert (finding.code, finding.severity, case.outcome) == ("MG302", "warning", "passed")
    assert "(more than --warn-slow -1 s)" in finding.message


def test_migrations_not_run_are_skipped_cases_saying_why(check: Check) -> None:
    cases = not_run("apply_empty", check.catalog, check.catalog.main[1:], "not run: 0001 failed")
    assert [(c.name, c.outcome, c.skipped) for c in cases] == [
        ("0002 schema/0002_vitals.sql", "skipped", "not run: 0001 failed")
    ]


def test_files_that_cannot_be_placed_or_share_a_number_are_failing_cases(
    write_tree: WriteTree,
) -> None:
    root = write_tree(
        tree(
            {
                **TWO,
                "schema/0002_again.sql": "SELECT 1;\n",
                "schema/2_short.sql": "SELECT 1;\n",
            }
        )
    )
    cases = catalog_cases("apply_empty", discover(root / MIGRATIONS))
    codes = sorted(f.code for c in cases for f in c.findings)
    assert codes == ["MG103", "MG310"], [c.findings for c in cases]
    (duplicate,) = [c for c in cases if c.name == "duplicate 0002"]
    assert "number 0002 is also used by " in duplicate.findings[0].message


def test_no_problem_no_catalog_case(check: Check) -> None:
    assert catalog_cases("apply_empty", check.catalog) == []


def test_validation_after_the_last_migration_passes(check: Check) -> None:
    check.apply_all()
    cases = validate("apply_empty", check.conn, check.run, check.options, [])
    assert [(c.name, c.outcome) for c in cases] == [
        ("integrity_check", "passed"),
        ("foreign_key_check", "passed"),
        ("version", "passed"),
    ]
    assert all(c.time >= 0 for c in cases)


def test_validation_names_orphans_a_short_version_and_broken_invariants(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    files = {
        **TWO,
        "data/0003_more.sql": "INSERT INTO vitals VALUES (1, 1);\n",
        "rollback/0003_rollback.sql": "DELETE FROM vitals;\n",
    }
    root = write_tree(
        {
            **tree(files),
            "inv.sql": "-- invariant: has_mrn\nSELECT id FROM patients WHERE mrn IS NULL;\n",
        }
    )
    made = Check(root, tmp_path / "check.db", options(invariants=root / "inv.sql"))
    try:
        for migration in made.catalog.main[:3]:
            apply_case("apply_empty", made.run, migration, made.options)
        # hand edits: an orphan row, and the last migration's row gone
        made.conn.execute("PRAGMA foreign_keys = OFF")
        made.conn.execute("UPDATE vitals SET patient_id = 99")
        made.conn.execute("DELETE FROM schema_version WHERE version = 3")
        cases = validate(
            "apply_empty", made.conn, made.run, made.options, load_invariants(made.options)
        )
    finally:
        made.conn.close()
    found = {c.name: [(f.code, f.message) for f in c.findings] for c in cases}
    assert found["integrity_check"] == []
    assert found["foreign_key_check"] == [
        (
            "MG304",
            "foreign_key_check after the migrations: "
            "vitals rowid 1 references a missing row of patients",
        )
    ]
    assert found["version"] == [
        ("MG305", "schema_version says 0002 after the run, the highest migration is 0003")
    ]
    assert found["invariant: has_mrn"] == [("MG306", "invariant 'has_mrn' returned rows: (1,)")]


def test_the_schema_snapshot_is_written_then_compared(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    snapshot = tmp_path / "schema.sql"
    root = write_tree(tree(TWO))
    writing = Check(root, tmp_path / "one.db", options(snapshot=snapshot, write_snapshot=True))
    try:
        writing.apply_all()
        (*_, written) = validate("apply_empty", writing.conn, writing.run, writing.options, [])
    finally:
        writing.conn.close()
    assert written.name == f"schema snapshot written to {snapshot}"
    text = snapshot.read_text()
    assert text.startswith("-- Schema snapshot: ") and "CREATE TABLE vitals" in text
    assert "schema_version" not in text

    comparing = Check(root, tmp_path / "two.db", options(snapshot=snapshot))
    try:
        comparing.apply_all()
        (*_, same) = validate("apply_empty", comparing.conn, comparing.run, comparing.options, [])
        snapshot.write_text(text.replace("mrn TEXT", "mrn TEXT NOT NULL"))
        (*_, drifted) = validate(
            "apply_empty", comparing.conn, comparing.run, comparing.options, []
        )
    finally:
        comparing.conn.close()
    assert same.name == "schema snapshot" and same.outcome == "passed"
    (finding,) = drifted.findings
    assert finding.code == "MG307"
    assert finding.message.startswith("the migrations do not produce the committed schema snapshot")


def test_a_missing_invariants_file_is_a_usage_error(tmp_path: Path) -> None:
    assert load_invariants(options()) == []
    with pytest.raises(UsageError, match=r"inv\.sql: invariants file not found"):
        load_invariants(options(invariants=tmp_path / "inv.sql"))


def test_a_refused_run_becomes_one_usage_line() -> None:
    with pytest.raises(UsageError, match=r"^edited: 0001; run again$"), could_not_run():
        raise runner.RunRefused("edited: 0001\nrun again")


def test_a_sqlite_error_that_is_no_fault_of_the_migration_is_not_swallowed() -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"), could_not_run():
        raise sqlite3.OperationalError("no such table: t")
