"""The database seam driven through its interface (ci.db.engine) with the SQLite engine on real
files: opening a target or a throwaway database, transactions and the write lock, statements
through the gatekeeper, queries, time limits, fingerprints, health, bookkeeping, clones."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.core.errors import UsageError
from ci.core.sqltext import split_statements
from ci.db import prepare
from ci.db.bookkeeping import Entry
from ci.db.engine import Database, Engine, database_of, engine_for
from ci.db.runner import Runaway
from ci.db.sqlite import ENGINE, SqliteDatabase

SCHEMA = """
CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT NOT NULL UNIQUE);
CREATE TABLE vitals (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER REFERENCES patients (id),
    value REAL CHECK (value > 0)
);
INSERT INTO patients (mrn) VALUES ('M1'), ('M2');
INSERT INTO vitals (patient_id, value) VALUES (1, 1.5), (2, 2.5);
"""


def run_file(database: Database, text: str) -> list[str | None]:
    """Every statement of `text` through one StatementGate in one transaction: their verdicts."""
    gate = database.gate()
    database.begin()
    verdicts = [gate.execute(statement) for statement in split_statements(text)]
    database.commit()
    gate.restore()
    return verdicts


@pytest.fixture
def engine() -> Engine:
    return engine_for("anything.db")


@pytest.fixture
def target(tmp_path: Path, engine: Engine) -> Iterator[Database]:
    database = engine.connect_target(tmp_path / "app.db")
    run_file(database, SCHEMA)
    yield database
    database.close()


def test_a_plain_path_is_sqlite_and_an_unknown_scheme_is_one_line(engine: Engine) -> None:
    assert engine is ENGINE
    assert engine.name == "sqlite"
    known = r"\(known: postgres, postgresql, sqlite\)"
    with pytest.raises(UsageError, match=r"no database engine for 'mysql://' " + known):
        engine_for("mysql://localhost/app")


def test_statements_run_through_the_gate_and_commit(target: Database) -> None:
    printed = target.fingerprint()
    assert {g.name: g.rows for g in printed.groups.values()} == {"patients": 2, "vitals": 2}
    assert all(g.rows is None for g in target.schema_fingerprint().groups.values())


def test_the_gate_ignores_transaction_control_and_refuses_bookkeeping_writes(
    target: Database,
) -> None:
    verdicts = run_file(
        target,
        "BEGIN;\nINSERT INTO patients (mrn) VALUES ('M3');\nCOMMIT;\n"
        "CREATE TABLE schema_version_log (x);\n",
    )
    assert verdicts[:3] == [None, None, None]  # BEGIN/COMMIT ignored: the transaction is ours
    assert verdicts[3] is not None
    assert "bookkeeping table schema_version_log" in verdicts[3]
    assert target.query("SELECT count(*) FROM patients", 5) == [(3,)]


def test_an_ignored_statement_tells_its_notice(target: Database) -> None:
    notices: list[str] = []
    gate = target.gate()
    target.begin()
    for statement in split_statements("BEGIN;\nPRAGMA foreign_keys = OFF;\nSELECT 1;\n"):
        assert gate.execute(statement, notice=notices.append) is None
    target.commit()
    assert notices == [
        "BEGIN ignored; the runner runs each migration in its own transaction",
        "PRAGMA foreign_keys has no effect inside a transaction; the runner restores "
        "foreign_keys after the migration",
    ]


def test_a_throwaway_database_has_the_stricter_rules_of_a_check(
    tmp_path: Path, engine: Engine
) -> None:
    database = engine.connect_throwaway(tmp_path / "check.db")
    try:
        (verdict,) = run_file(database, "PRAGMA writable_schema = 1;")
        assert verdict is not None and "not allowed in a check" in verdict
        with pytest.raises(database.error, match="not allowed in a check"):
            database.query("PRAGMA temp_store_directory = '/tmp'", 1)
    finally:
        database.close()
    # the same pragma on a target is refused by the rules of every run
    target = engine.connect_target(tmp_path / "real.db")
    try:
        (verdict,) = run_file(target, "PRAGMA writable_schema = 1;")
        assert verdict is not None and "is refused" in verdict
    finally:
        target.close()


def test_a_failing_statement_raises_the_engines_error_and_rollback_undoes(
    target: Database,
) -> None:
    gate = target.gate()
    target.begin()
    assert gate.execute(split_statements("DELETE FROM vitals;")[0]) is None
    with pytest.raises(target.error, match="UNIQUE"):
        gate.execute(split_statements("INSERT INTO patients (mrn) VALUES ('M1');")[0])
    target.rollback()
    assert target.query("SELECT count(*) FROM vitals", 1) == [(2,)]


def test_lock_holds_the_write_lock_until_commit(tmp_path: Path, target: Database) -> None:
    other = sqlite3.connect(tmp_path / "app.db", timeout=0, isolation_level=None)
    try:
        target.lock()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        target.commit()
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_query_returns_at_most_limit_rows(target: Database) -> None:
    assert target.query("SELECT mrn FROM patients ORDER BY mrn", 1) == [("M1",)]
    assert target.query("SELECT mrn FROM patients WHERE 0", 5) == []


def test_time_limited_stops_a_runaway_query_naming_its_line(target: Database) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    with pytest.raises(Runaway) as stopped, target.time_limited(0.2, "inv.sql", 3):
        target.query(endless, 1)
    assert (stopped.value.path, stopped.value.line) == ("inv.sql", 3)
    assert "still running after --statement-timeout 0.2 s" in stopped.value.message


def test_a_sound_database_has_no_health_problems(target: Database) -> None:
    assert target.integrity_problems(6) == []
    assert target.integrity_problems(6, verify_checks=True) == []
    assert target.foreign_key_problems(6) == []


def test_health_problems_name_what_is_broken(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "broken.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA)  # test set-up only: the tool itself never runs executescript
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("INSERT INTO vitals (patient_id, value) VALUES (99, -1)")
    conn.close()
    database = engine.connect_target(path, readonly=True)
    try:
        assert database.foreign_key_problems(6) == [("vitals", 3, "patients")]
        problems = database.integrity_problems(6, verify_checks=True)
        assert problems == ["CHECK constraint failed in vitals: value > 0 (rowid 3)"]
    finally:
        database.close()


def test_record_and_unrecord_are_what_applied_reads(target: Database) -> None:
    assert target.applied() == []
    target.lock()
    prepare.create_or_upgrade(database_conn(target), {})
    target.record(Entry(1, "schema", "init", "sha256:x"), ms=3, rows=2)
    target.commit()
    (row,) = target.applied()
    assert (row.version, row.migration_type, row.description) == (1, "schema", "init")
    target.lock()
    target.unrecord("main", 1)
    target.commit()
    assert target.applied() == []


def test_clone_copies_a_database_without_writing_beside_it(tmp_path: Path, engine: Engine) -> None:
    source_dir = tmp_path / "user"
    source_dir.mkdir()
    source = source_dir / "sample.db"
    conn = sqlite3.connect(source, isolation_level=None)
    conn.executescript(SCHEMA)  # test set-up only
    conn.close()
    before = sorted(p.name for p in source_dir.iterdir())
    engine.clone(source, tmp_path / "copy.db", timeout=1.0)
    assert sorted(p.name for p in source_dir.iterdir()) == before
    original = engine.connect_target(source, readonly=True)
    copy = engine.connect_throwaway(tmp_path / "copy.db")
    try:
        assert copy.fingerprint() == original.fingerprint()
    finally:
        original.close()
        copy.close()


def test_clone_copies_a_wal_database_as_files(tmp_path: Path, engine: Engine) -> None:
    source = tmp_path / "wal.db"
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA)  # test set-up only
    conn.close()
    engine.clone(source, tmp_path / "copy.db", timeout=1.0)
    copy = engine.connect_throwaway(tmp_path / "copy.db")
    try:
        assert copy.query("SELECT count(*) FROM patients", 1) == [(2,)]
    finally:
        copy.close()


def test_database_of_sees_a_connection_through_the_sqlite_engine(target: Database) -> None:
    conn = database_conn(target)
    seen = database_of(conn)
    assert isinstance(seen, SqliteDatabase) and seen.conn is conn
    assert database_of(target) is target


def database_conn(database: Database) -> sqlite3.Connection:
    """The sqlite3 connection of a SQLite Database (what the runner still drives)."""
    assert isinstance(database, SqliteDatabase)
    return database.conn
