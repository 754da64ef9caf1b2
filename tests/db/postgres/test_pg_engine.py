"""The PostgreSQL engine through the database seam (ci.db.engine), on the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ci.core.sqltext import Statement
from ci.db.engine import engine_for
from ci.db.outcomes import CannotRun, Runaway
from ci.db.postgres.engine import ENGINE, PgDatabase
from ci.db.records import Entry

pytestmark = pytest.mark.postgresql


@pytest.fixture
def database(pg_database_url: str) -> Iterator[PgDatabase]:
    opened = engine_for(pg_database_url)
    assert (
        opened is ENGINE and engine_for(pg_database_url.replace("postgresql", "postgres")) is ENGINE
    )
    db = ENGINE.connect_target(pg_database_url)
    yield db
    db.close()


def test_a_migration_and_its_record_commit_together(database: PgDatabase) -> None:
    database.lock()
    database.tables.create(database.conn)
    gate = database.gate()
    notices: list[str] = []
    assert gate.execute(Statement("CREATE TABLE a (x int)", 1, 0), notice=notices.append) is None
    assert gate.execute(Statement("COMMIT", 2, 0), notice=notices.append) is None  # ignored
    database.record(Entry(1, "schema", "a", "v1:00"), ms=1, rows=0)
    database.rollback()
    assert notices and database.applied() == []
    assert database.query("SELECT to_regclass('a')", 5) == [(None,)]
    database.lock()
    database.tables.create(database.conn)
    database.record(Entry(1, "schema", "a", "v1:00"), ms=1, rows=0)
    database.commit()
    assert [(r.version, r.file_hash) for r in database.applied()] == [(1, "v1:00")]
    database.begin()
    database.unrecord("main", 1)
    database.commit()
    assert database.applied() == []


def test_a_query_cannot_write_and_is_time_limited(database: PgDatabase) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        database.query("CREATE TABLE b (x int)", 1)
    stopped = r"inv.sql:3: still running after --statement-timeout"
    with pytest.raises(Runaway, match=stopped), database.time_limited(0.2, "inv.sql", 3):
        database.query("SELECT pg_sleep(3)", 1)
    assert database.query("SELECT 1", 1) == [(1,)]  # the limit is gone afterwards


def test_health_names_invalid_constraints_and_orphans(database: PgDatabase) -> None:
    for text in (
        "CREATE TABLE p (id int PRIMARY KEY)",
        "CREATE TABLE c (id int, p_id int)",
        "INSERT INTO p VALUES (1)",
        "INSERT INTO c VALUES (10, 1), (11, 2), (12, NULL)",
        "ALTER TABLE c ADD CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID",
    ):
        database.conn.execute(text)
    assert database.integrity_problems(10) == [
        "constraint c_p on c is NOT VALID: existing rows were never checked "
        "(ALTER TABLE ... VALIDATE CONSTRAINT)"
    ]
    assert database.foreign_key_problems(10) == [("c", "(0,2)", "p")]


def test_what_a_server_database_cannot_do_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CannotRun, match="throwaway database on a server"):
        ENGINE.connect_throwaway(tmp_path / "x")


def test_fingerprints_come_from_the_catalog(database: PgDatabase) -> None:
    empty = database.schema_fingerprint()
    database.conn.execute("CREATE TABLE f (x int)")
    assert database.schema_fingerprint() != empty
    counted = database.fingerprint()
    database.conn.execute("INSERT INTO f VALUES (1)")
    assert database.fingerprint() != counted
    assert database.schema_fingerprint() == database.schema_fingerprint()


def test_a_checks_throwaway_session_does_not_wait_for_flushes(
    pg_server_url: str, tmp_path: Path
) -> None:
    from ci.checks.pg_engine import new_pg_runner, throwaway_connection
    from ci.core.model import discover

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001_a.sql").write_text("CREATE TABLE a (x int);\n", encoding="utf-8")
    with throwaway_connection(pg_server_url) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
        runner = new_pg_runner(conn, discover(tmp_path / "m"), None)
        runner.migrate()  # each migration ends with the session reset (RESET ALL): kept
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
    with psycopg.connect(pg_server_url) as other:  # a session setting, not the server's
        assert other.execute("SHOW synchronous_commit").fetchone() != ("off",)
