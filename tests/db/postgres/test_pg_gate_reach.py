"""What reaches outside the database (ci.db.postgres.gate_reach): every dblink function refused
in every run, also written in a created function's body; extensions, languages, C functions
and foreign servers refused in a check and in a dry run, allowed in a real run; and on the real
server, a dry run and a check that try to write elsewhere through dblink write nothing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.checks.engines import run_check, write
from tests.conftest import output
from tests.db.postgres.pgrun import migrate, rows
from tests.db.postgres.pgrun import write as write_migrations
from tests.db.postgres.test_pg_gate_refusals import verdict

MODES = [
    {"throwaway": throwaway, "dry_run": dry_run, "no_transaction": no_transaction}
    for throwaway in (False, True)
    for dry_run in (False, True)
    for no_transaction in (False, True)
]


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT dblink_connect_u('c', 'dbname=other')", "dblink_connect_u"),
        ("SELECT dblink_send_query('c', 'INSERT INTO log VALUES (1)')", "dblink_send_query"),
        ("SELECT public.DBLINK_EXEC('dbname=other', 'DROP TABLE t')", "dblink_exec"),
        ("SELECT * FROM dblink_get_result('c') AS r(a int)", "dblink_get_result"),
        ("DO $$ BEGIN PERFORM dblink_open('c', 'x'); END $$", "dblink_open"),
        (
            "CREATE FUNCTION side(x text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$ "
            "BEGIN PERFORM dblink_exec('dbname=other', 'INSERT INTO log DEFAULT VALUES'); "
            "RETURN x; END $f$",
            "dblink_exec",
        ),
        (
            "CREATE FUNCTION s() RETURNS int LANGUAGE sql AS $$ SELECT dblink_send_query('c', "
            "'x') $$",
            "dblink_send_query",
        ),
    ],
)
def test_every_dblink_function_is_refused_in_every_run(sql: str, name: str) -> None:
    for mode in MODES:
        found = verdict(sql, **mode)
        assert found is not None, mode
        assert found.startswith(f"{name}() is refused"), found
        assert "whose writes commit on their own" in found


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("CREATE EXTENSION IF NOT EXISTS dblink", "CREATE EXTENSION dblink"),
        ("CREATE EXTENSION postgres_fdw SCHEMA public", "CREATE EXTENSION postgres_fdw"),
        ("CREATE EXTENSION plpython3u", "CREATE EXTENSION plpython3u"),
        ("CREATE LANGUAGE plperlu", "CREATE EXTENSION plperlu"),  # PostgreSQL 13+ reads it so
        ("CREATE LANGUAGE mine HANDLER mine_handler", "CREATE LANGUAGE mine"),
        (
            "CREATE FUNCTION x(text, text) RETURNS text LANGUAGE c AS '$libdir/dblink', "
            "'dblink_exec'",
            "CREATE FUNCTION ... LANGUAGE c",
        ),
        ("CREATE SERVER prod FOREIGN DATA WRAPPER postgres_fdw", "CREATE SERVER"),
        ("CREATE USER MAPPING FOR CURRENT_USER SERVER prod", "CREATE USER MAPPING"),
        ("IMPORT FOREIGN SCHEMA public FROM SERVER prod INTO here", "IMPORT FOREIGN SCHEMA"),
    ],
)
def test_what_reaches_out_is_refused_in_a_check_and_a_dry_run_only(sql: str, what: str) -> None:
    in_check = verdict(sql, throwaway=True)
    assert in_check is not None
    assert in_check.startswith(f"{what} is refused in a check: "), in_check
    assert "a check must not reach outside its throwaway database" in in_check
    in_dry_run = verdict(sql, dry_run=True)
    assert in_dry_run is not None
    assert in_dry_run.startswith(f"{what} is refused in a dry run: "), in_dry_run
    assert "apply it in a real run (without --dry-run)" in in_dry_run
    assert verdict(sql) is None  # a deploy may install it; its calls are refused


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE EXTENSION pg_trgm",
        "CREATE TRUSTED LANGUAGE mine HANDLER mine_handler",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
        "SELECT dblink_like_name FROM t",  # a column, not a call
    ],
)
def test_what_stays_inside_the_database_is_allowed_everywhere(sql: str) -> None:
    for mode in MODES:
        assert verdict(sql, **mode) is None, mode


@pytest.mark.postgresql
def test_a_dry_run_cannot_write_through_dblink(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """dblink_send_query commits on its own connection: the dry run's ROLLBACK would not take
    its row back. The real run installs the extension (allowed); the dry run refuses the call."""
    name = pg_database_url.rsplit("/", 1)[1]
    migrations = write_migrations(
        tmp_path, {"schema/0001_a.sql": "CREATE EXTENSION dblink;\nCREATE TABLE t (a int);\n"}
    )
    code, out, err = migrate(capsys, pg_database_url, migrations)
    assert code == 0, out + err
    (migrations / "schema/0002_b.sql").write_text(
        f"SELECT dblink_connect_u('c', 'host=127.0.0.1 user=postgres dbname={name}');\n"
        "SELECT dblink_send_query('c', 'INSERT INTO t VALUES (2)');\n"
        "SELECT pg_sleep(0.5);\n"
    )
    code, out, err = migrate(capsys, pg_database_url, migrations, "--dry-run")
    assert code == 1, out + err
    assert "0002_b.sql:1: dblink_connect_u() is refused: it works on another connection" in out
    assert rows(pg_database_url, "SELECT count(*) FROM t") == [(0,)]
    (migrations / "schema/0003_c.sql").write_text("CREATE EXTENSION postgres_fdw;\n")
    (migrations / "schema/0002_b.sql").write_text("SELECT 1;\n")
    code, out, err = migrate(capsys, pg_database_url, migrations, "--dry-run")
    assert code == 1, out + err
    assert "0003_c.sql:1: CREATE EXTENSION postgres_fdw is refused in a dry run" in out


@pytest.mark.postgresql
def test_a_check_cannot_reach_another_database(tmp_path: Path, pg_database_url: str) -> None:
    """The check's gate knows it runs on a throwaway database: CREATE EXTENSION dblink stops
    the migration before any call could write into the test's database."""
    name = pg_database_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE log (a int)")
    root = write(
        tmp_path,
        "postgresql",
        {
            "schema/0003_reach.sql": (
                "CREATE EXTENSION IF NOT EXISTS dblink;\n"
                f"SELECT dblink_exec('host=127.0.0.1 user=postgres dbname={name}', "
                "'INSERT INTO log VALUES (1)');\n"
            )
        },
    )
    done = run_check("ci.apply_empty", root, "postgresql")
    assert done.returncode == 1, output(done)
    assert "0003_reach.sql:1: MG301 CREATE EXTENSION dblink is refused in a check" in done.stdout
    assert rows(pg_database_url, "SELECT count(*) FROM log") == [(0,)]
