"""PgGate's refusals: what writes outside the migrated database or changes the server for
everyone, what belongs to the whole server in a check, and what cannot run inside the runner's
transaction (with the hint to mark the file @no-transaction)."""

from __future__ import annotations

import psycopg
import pytest
from pglast.parser import parse_sql

from ci.db.postgres.gate_rules import GateState, decide
from ci.db.postgres.statements import PgGate
from ci.rollback_roundtrip import main as roundtrip_main
from tests.checks.engines import engine_args
from tests.conftest import WriteTree
from tests.db.postgres.test_pg_gate import conn, one, run

__all__ = ["conn"]  # the fixture, shared

Conn = psycopg.Connection[tuple[object, ...]]
CIC = "CREATE INDEX CONCURRENTLY"
HINT = (
    "cannot run inside a transaction block, and the runner runs each migration in one: put it "
    "in a migration of its own whose first line is `-- @no-transaction`"
)


def verdict(sql: str, **rules: bool | int) -> str | None:
    """The rules' answer for `sql` without a server (for statements no test should ever run on
    the shared one: a bug would change the server for everyone)."""
    state = GateState(
        no_transaction=bool(rules.get("no_transaction", False)),
        rollback=bool(rules.get("rollback", False)),
        throwaway=bool(rules.get("throwaway", False)),
        dry_run=bool(rules.get("dry_run", False)),
        server=int(rules.get("server", 150000)),
        database="app",
    )
    (raw,) = parse_sql(sql)
    assert raw.stmt is not None
    found = decide(state, raw.stmt, sql.split()[0].upper())
    return None if found is None else found.message


@pytest.mark.parametrize(
    ("sql", "start"),
    [
        ("ALTER SYSTEM SET work_mem = '1GB'", "ALTER SYSTEM is refused: it rewrites the server's"),
        ("LOAD 'auto_explain'", "LOAD is refused: a library loaded into the session"),
        ("CHECKPOINT", "CHECKPOINT is refused: it changes the server for every database"),
        ("CREATE DATABASE other", "CREATE DATABASE is refused: it writes outside the database"),
        ("DROP DATABASE IF EXISTS other", "DROP DATABASE is refused"),
        ("CREATE TABLESPACE fast LOCATION '/ssd'", "CREATE TABLESPACE is refused"),
        ("DROP TABLESPACE fast", "DROP TABLESPACE is refused"),
        ("ALTER TABLESPACE fast SET (random_page_cost = 1)", "ALTER TABLESPACE is refused"),
        ("LISTEN jobs", "LISTEN is refused: the runner never reads notifications"),
        ("SELECT pg_catalog.PG_RELOAD_CONF()", "pg_reload_conf() is refused: it acts on the whole"),
        ("SELECT lo_export(1, '/tmp/x')", "lo_export() is refused: it reads or writes a file"),
        ("SELECT dblink_exec('prod', 'DROP TABLE t')", "dblink_exec() is refused: it works on"),
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend() is"),
        ("DO $$ BEGIN PERFORM pg_reload_conf(); END $$", "pg_reload_conf() is refused"),
    ],
)
def test_what_reaches_outside_the_database_is_refused_in_every_run(sql: str, start: str) -> None:
    for throwaway in (False, True):
        for no_transaction in (False, True):
            found = verdict(sql, throwaway=throwaway, no_transaction=no_transaction)
            assert found is not None
            assert found.startswith(start)


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("COPY patients FROM '/etc/passwd'", "it reads a server file, outside this database"),
        ("COPY patients TO PROGRAM 'sh'", "it writes a program on the database server"),
        ("COPY patients FROM STDIN", "its rows would come from STDIN, which a file of"),
        ("COPY (SELECT 1) TO STDOUT", "its rows would go to STDOUT, where nobody reads them"),
    ],
)
def test_copy_is_refused(conn: Conn, sql: str, why: str) -> None:
    refused, _ = run(PgGate(conn), sql + ";")
    assert refused == [f"COPY is refused: {why}" + refused[0].split(why, 1)[1]]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE ROLE reporting",
        "ALTER ROLE reporting NOLOGIN",
        "DROP ROLE reporting",
        "GRANT reporting TO app",
        "ALTER DATABASE app SET timezone = 'UTC'",
        "GRANT CONNECT ON DATABASE app TO reporting",
        "COMMENT ON ROLE reporting IS 'x'",
        "ALTER DATABASE app OWNER TO reporting",
        "CREATE SUBSCRIPTION s CONNECTION 'host=prod' PUBLICATION p",
    ],
)
def test_cluster_wide_objects_are_refused_only_in_a_check(sql: str) -> None:
    found = verdict(sql, throwaway=True)
    assert found is not None
    assert (
        "is not allowed in a check: roles, databases and tablespaces belong to the whole" in found
    )
    assert verdict(sql) is None


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("CREATE INDEX CONCURRENTLY i ON patients (name)", CIC),
        (
            "create unique index /* x */ concurrently i on patients (name)",
            "CREATE INDEX CONCURRENTLY",
        ),
        ("DROP INDEX CONCURRENTLY patients_pkey", "DROP INDEX CONCURRENTLY"),
        ("REINDEX TABLE CONCURRENTLY patients", "REINDEX CONCURRENTLY"),
        ("REINDEX (CONCURRENTLY) INDEX patients_pkey", "REINDEX CONCURRENTLY"),
        ("VACUUM patients", "VACUUM"),
        ("VACUUM (FULL, ANALYZE) patients", "VACUUM"),
        ("CLUSTER", "CLUSTER without a table"),
    ],
)
def test_what_cannot_run_in_a_transaction_needs_no_transaction(
    conn: Conn, sql: str, what: str
) -> None:
    conn.execute("BEGIN")
    refused, _ = run(PgGate(conn), sql + ";")
    conn.execute("ROLLBACK")
    assert refused == [f"{what} {HINT}"]
    assert verdict(sql, no_transaction=True) is None


def test_in_a_no_transaction_file_they_run(conn: Conn) -> None:
    refused, _ = run(
        PgGate(conn, no_transaction=True),
        "CREATE INDEX CONCURRENTLY patients_name ON patients (name); VACUUM patients;"
        "REINDEX INDEX CONCURRENTLY patients_name;",
    )
    assert refused == []
    assert one(conn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'patients_name'::regclass")


def test_analyze_and_enum_values_run_in_the_transaction(conn: Conn) -> None:
    conn.execute("BEGIN")
    refused, _ = run(PgGate(conn), "CREATE TYPE mood AS ENUM ('sad'); ANALYZE patients; COMMIT;")
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    refused2, _ = run(PgGate(conn), "ALTER TYPE mood ADD VALUE 'happy';")
    conn.execute("COMMIT")
    assert refused == refused2 == []
    assert one(conn, "SELECT enum_range(NULL::mood)::text") == "{sad,happy}"
    old = verdict("ALTER TYPE mood ADD VALUE 'ok'", server=110000)
    assert old == f"ALTER TYPE ... ADD VALUE (on a server older than PostgreSQL 12) {HINT}"


def test_the_migrated_databases_own_settings_may_change(conn: Conn) -> None:
    name = conn.info.dbname
    refused, _ = run(PgGate(conn), f"ALTER DATABASE \"{name}\" SET work_mem = '3MB';")
    assert refused == []
    assert (
        one(
            conn,
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d "
            f"ON d.oid = s.setdatabase WHERE d.datname = '{name}'",
        )
        == 1
    )


def test_creating_a_function_that_calls_one_is_not_calling_it() -> None:
    body = "BEGIN PERFORM pg_cancel_backend(p); END"
    assert (
        verdict(f"CREATE FUNCTION stop(p int) RETURNS void LANGUAGE plpgsql AS $${body}$$") is None
    )


def test_another_database_is_not_the_migrations_to_alter() -> None:
    sql = "ALTER DATABASE other SET work_mem = '1MB'"
    assert verdict(sql) == (
        "ALTER DATABASE other is refused: it is not the database being migrated (app)"
    )
    assert "is not allowed in a check" in str(verdict(sql, throwaway=True))


def test_more_than_one_statement_in_one_piece_is_refused(conn: Conn) -> None:
    from ci.core.sqltext import Statement

    why = PgGate(conn).execute(Statement("SELECT 1; DELETE FROM patients", 1, 0))
    assert why == "more than one statement in one piece: the gatekeeper runs one at a time"


def test_a_rollback_file_is_told_to_drop_without_concurrently_not_to_use_no_transaction() -> None:
    """A rollback runs in one transaction with the removal of its row, @no-transaction or not:
    the hint for a migration ("a migration of its own ... @no-transaction") would not work."""
    found = verdict("DROP INDEX CONCURRENTLY IF EXISTS t_idx", rollback=True)
    assert found is not None
    assert found.startswith("DROP INDEX CONCURRENTLY cannot run inside a transaction block, and a")
    assert "rollback file runs in one" in found and "without CONCURRENTLY" in found
    assert "migration of its own" not in found


@pytest.mark.parametrize(
    "sql",
    [
        "SET track_counts = off",
        "SET LOCAL track_counts TO off",
        "set Track_Counts = 'off'",
        "RESET track_counts",
        "SELECT set_config('track_counts', 'off', false)",
        "SELECT set_config('TRACK_COUNTS', 'off', true)",
    ],
)
def test_a_check_refuses_turning_off_the_write_counters_it_reads(sql: str) -> None:
    """The round trip and apply_sample find the rows a migration changed by the statistics'
    write counters: a rollback that turned them off deleted a row unseen."""
    found = verdict(sql, throwaway=True)
    assert found is not None
    assert "setting track_counts is not allowed in a check" in found
    assert verdict(sql) is None  # a real run may (the checks are what read the counters)


def test_a_round_trip_refuses_a_rollback_that_turns_off_the_write_counters(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            "m/schema/0001_a.sql": "CREATE TABLE t (id int PRIMARY KEY);\n"
            "INSERT INTO t SELECT generate_series(1, 5);\n",
            "m/rollback/0001_a.sql": "DROP TABLE t;\n",
            "m/schema/0002_b.sql": "CREATE TABLE u (id int);\n",
            "m/rollback/0002_b.sql": "DROP TABLE u;\nSET track_counts = off;\n"
            "DELETE FROM t WHERE id = 3;\n",
        }
    )
    code = roundtrip_main(["--migrations-dir", str(root / "m"), *engine_args("postgresql")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "0002_b.sql:2:" in out and "setting track_counts is not allowed in a check" in out
