"""Output files (--junit, --write-snapshot's file) never replace a file of another kind.

A typo such as `--junit $DB` must not turn a database (or a migration) into a JUnit report: an
existing file is replaced only if it is empty or is already a report of that kind, and the
refusal is one line and exit 2 before any check runs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_module

MIGRATION = "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"


def make_db(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    return path.read_bytes()


def migrations(root: Path) -> Path:
    (root / "m" / "schema").mkdir(parents=True)
    (root / "m" / "schema" / "0001_t.sql").write_text(MIGRATION)
    (root / "m" / "rollback").mkdir()
    (root / "m" / "rollback" / "0001_rollback.sql").write_text("DROP TABLE t;\n")
    return root / "m"


@pytest.mark.parametrize(
    "command",
    [
        ("ci.precheck", "--db", "{db}"),
        ("ci.postcheck", "--db", "{db}", "--expect-version", "0"),
        ("ci.checksums", "--migrations-dir", "{m}"),
        ("ci.apply_empty", "--migrations-dir", "{m}"),
        ("ci", "--migrations-dir", "{m}", "--checks", "numbering"),
    ],
)
def test_junit_pointed_at_a_database_is_refused_and_the_database_kept(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    db = tmp_path / "db"
    before = make_db(db)
    m = migrations(tmp_path)
    module, *args = (a.format(db=db, m=m) for a in command)
    done = run_module(module, *args, "--junit", str(db))
    assert done.returncode == 2, done.stdout + done.stderr
    assert db.read_bytes() == before
    (line,) = done.stderr.strip().splitlines()
    assert str(db) in line
    assert "not a JUnit report" in line or "the database this command reads" in line
    assert "Traceback" not in done.stderr


def test_junit_pointed_at_a_migration_is_refused(tmp_path: Path) -> None:
    m = migrations(tmp_path)
    migration = m / "schema" / "0001_t.sql"
    done = run_module("ci.numbering", "--migrations-dir", str(m), "--junit", str(migration))
    assert done.returncode == 2
    assert migration.read_text() == MIGRATION
    assert str(migration) in done.stderr


def test_junit_inside_the_migrations_dir_or_equal_to_the_sample_is_refused(
    tmp_path: Path,
) -> None:
    m = migrations(tmp_path)
    inside = m / "report.xml"  # does not exist yet: still refused, it would become a "migration"
    done = run_module("ci.numbering", "--migrations-dir", str(m), "--junit", str(inside))
    assert done.returncode == 2
    assert not inside.exists()
    assert "migrations directory" in done.stderr
    sample = tmp_path / "sample.db"
    before = make_db(sample)
    done = run_module(
        "ci.apply_sample", "--migrations-dir", str(m), "--sample", str(sample), "--junit",
        str(sample),
    )  # fmt: skip
    assert done.returncode == 2
    assert sample.read_bytes() == before


OLD_REPORTS = ["", "\ufeff  \n<?xml version='1.0'?><testsuites/>", "<testsuites>"]


@pytest.mark.parametrize("old", OLD_REPORTS)
def test_an_empty_file_or_a_previous_report_is_replaced(tmp_path: Path, old: str) -> None:
    m = migrations(tmp_path)
    report = tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    report.write_text(old, encoding="utf-8")
    done = run_module("ci.numbering", "--migrations-dir", str(m), "--junit", str(report))
    assert done.returncode == 0, done.stderr
    assert report.read_text(encoding="utf-8").startswith("<?xml")
    assert [p.name for p in report.parent.iterdir()] == ["junit.xml"]  # no temporary file left


def test_write_snapshot_refuses_a_file_that_is_not_a_snapshot(tmp_path: Path) -> None:
    m = migrations(tmp_path)
    notes = tmp_path / "notes.sql"
    notes.write_text("-- my notes, not a snapshot\n")
    done = run_module(
        "ci.apply_empty", "--migrations-dir", str(m), "--schema-snapshot", str(notes),
        "--write-snapshot",
    )  # fmt: skip
    assert done.returncode == 2
    assert notes.read_text() == "-- my notes, not a snapshot\n"
    assert str(notes) in done.stderr
    fresh = tmp_path / "schema.sql"
    done = run_module(
        "ci.apply_empty", "--migrations-dir", str(m), "--schema-snapshot", str(fresh),
        "--write-snapshot",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = run_module(
        "ci.apply_empty", "--migrations-dir", str(m), "--schema-snapshot", str(fresh),
        "--write-snapshot",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
