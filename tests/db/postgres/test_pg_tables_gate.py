"""What takes the runner's lock away or changes other sessions' settings is refused in every
run; a URL that names no database, or cannot be read, is one line and exit 2 before any
connection (the password never shown)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.db.postgres.connect import label
from tests.db.postgres.pgrun import applied, migrate, rows, write
from tests.db.postgres.test_pg_gate_refusals import verdict
from tests.pg import server_url


@pytest.mark.parametrize(
    ("sql", "start"),
    [
        ("SELECT pg_advisory_unlock_all()", "pg_advisory_unlock_all() is refused: it releases"),
        ("SELECT pg_catalog.pg_advisory_unlock(42)", "pg_advisory_unlock() is refused"),
        ("SELECT pg_advisory_unlock_shared(1, 2)", "pg_advisory_unlock_shared() is refused"),
        ("DO $$ BEGIN PERFORM pg_advisory_unlock_all(); END $$", "pg_advisory_unlock_all()"),
        ("discard all", "DISCARD ALL is refused: it releases the session's advisory locks"),
        ("ALTER ROLE app SET statement_timeout = 1", "ALTER ROLE ... SET is refused: it changes"),
        ("alter user app set work_mem = '1MB'", "ALTER ROLE ... SET is refused"),
        ("ALTER ROLE ALL SET statement_timeout = 1", "ALTER ROLE ... SET is refused"),
        ("ALTER ROLE app IN DATABASE app SET x.y = 1", "ALTER ROLE ... SET is refused"),
        ("ALTER ROLE app RESET ALL", "ALTER ROLE ... SET is refused"),
    ],
)
def test_what_frees_the_runners_lock_or_sets_a_roles_sessions_is_refused(
    sql: str, start: str
) -> None:
    for throwaway in (False, True):
        for no_transaction in (False, True):
            found = verdict(sql, throwaway=throwaway, no_transaction=no_transaction)
            assert found is not None and found.startswith(start), found


def test_other_discards_and_transaction_locks_still_run() -> None:
    for sql in ("DISCARD PLANS", "DISCARD TEMP", "SELECT pg_advisory_xact_lock(7)"):
        assert verdict(sql) is None


def test_a_run_keeps_its_lock_and_may_still_create_a_role(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    role = f"mgfix_{secrets.token_hex(4)}"
    migrations = write(
        tmp_path,
        {
            "schema/0001_role.sql": f"CREATE ROLE {role};\n",
            "schema/0002_unlock.sql": "SELECT pg_advisory_unlock_all();\n",
        },
    )
    try:
        code, _, err = migrate(capsys, pg_database_url, migrations)
        assert code == 1
        assert f"{migrations}/schema/0002_unlock.sql:1: pg_advisory_unlock_all() is refused" in err
        assert applied(pg_database_url) == [(1, "schema")]
        assert rows(pg_database_url, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,))
    finally:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_url_that_names_no_database_is_refused(
    tmp_path: Path, pg_database_url: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = pg_database_url.rsplit("/", 1)[1]
    monkeypatch.setenv("PGDATABASE", name)  # libpq would pick it: the run must not
    migrations = write(tmp_path, {"schema/0001_a.sql": "CREATE TABLE landed_here (i int);\n"})
    for url in (pg_database_url.rsplit("/", 1)[0] + "/", pg_database_url.rsplit("/", 1)[0]):
        for extra in ((), ("--status",)):
            code, out, err = migrate(capsys, url, migrations, *extra)
            assert (code, out) == (2, "")
            assert err.strip().endswith(
                ": the URL names no database; write postgresql://USER@HOST:PORT/DATABASE "
                "(a missing name would be filled in from $PGDATABASE or the user's name)"
            )
            assert len(err.strip().splitlines()) == 1
    assert rows(pg_database_url, "SELECT to_regclass('landed_here') IS NULL") == [(True,)]


def test_a_url_that_cannot_be_read_is_one_line_without_the_password(
    tmp_path: Path, capsys: Any
) -> None:
    migrations = write(tmp_path, {"schema/0001_a.sql": "SELECT 1;\n"})
    url = "postgresql://postgres:s3cret@[::1/app"
    code, out, err = migrate(capsys, url, migrations)
    assert (code, out) == (2, "")
    assert err == (
        "migrate: postgresql://(unreadable URL): the URL cannot be read: end of string reached "
        'when looking for matching "]" in IPv6 host address\n'
    )
    assert "s3cret" not in label(url)
