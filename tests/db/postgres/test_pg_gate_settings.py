"""PgGate.restore: the session settings a migration changed for itself are set back after the
file, so that they never leak into the next migration or the runner's own statements."""

from __future__ import annotations

import psycopg
import pytest

from ci.db.postgres.statements import PgGate, split
from tests.db.postgres.test_pg_gate import conn, one, run

__all__ = ["conn"]  # the fixture, shared

Conn = psycopg.Connection[tuple[object, ...]]
SHOWN = (
    "SELECT current_setting('search_path'), current_setting('work_mem'), "
    "current_setting('statement_timeout'), current_user, session_user, "
    "current_setting('app.tenant', true), current_setting('DateStyle')"
)


def shown(conn: Conn) -> tuple[object, ...]:
    row = conn.execute(SHOWN).fetchone()
    assert row is not None
    return row


FILE = """\
SET search_path = pg_catalog, public;
DO $$ BEGIN PERFORM set_config('work_mem', '7MB', false); END $$;
SELECT set_config('statement_timeout', '5s', false);
SET app.tenant = 'acme';
SET DateStyle TO German;
SET ROLE pg_read_all_data;
"""


@pytest.mark.parametrize("no_transaction", [False, True])
def test_session_settings_are_set_back_after_the_file(conn: Conn, no_transaction: bool) -> None:
    conn.execute("SET statement_timeout = '40s'")  # the runner's own setting survives too
    before = shown(conn)
    gate = PgGate(conn, no_transaction=no_transaction)
    if not no_transaction:
        conn.execute("BEGIN")
    refused, _ = run(gate, FILE)
    if not no_transaction:
        conn.execute("COMMIT")
    assert refused == []
    changed = shown(conn)
    assert changed[0] == "pg_catalog, public"
    assert changed[1:4] == ("7MB", "5s", "pg_read_all_data")
    assert changed[5:] == ("acme", "German, DMY")
    gate.restore()
    after = shown(conn)
    # a custom setting the file made up is reset: empty (the server never forgets its name)
    assert (before[5], after[5]) == (None, "")
    assert after[:5] + after[6:] == before[:5] + before[6:]
    assert before[2] == "40s"


def test_session_authorization_and_reset_all_are_set_back(conn: Conn) -> None:
    conn.execute("SET work_mem = '9MB'")
    before = shown(conn)
    gate = PgGate(conn, no_transaction=True)
    refused, _ = run(gate, "RESET ALL; SET SESSION AUTHORIZATION pg_read_all_data;")
    assert refused == []
    assert shown(conn)[1] == "4MB"
    assert shown(conn)[3:5] == ("pg_read_all_data", "pg_read_all_data")
    gate.restore()
    assert shown(conn) == before


def test_set_local_and_settings_in_a_rolled_back_file_need_nothing(conn: Conn) -> None:
    before = shown(conn)
    gate = PgGate(conn)
    conn.execute("BEGIN")
    run(gate, "SET LOCAL work_mem = '5MB'; SET search_path = pg_catalog;")
    with pytest.raises(psycopg.errors.UndefinedTable):
        gate.execute(split("SELECT * FROM missing;")[0])
    gate.restore()  # inside the failed transaction: nothing to do, nothing raised
    conn.execute("ROLLBACK")
    assert shown(conn) == before


def test_restore_without_a_change_asks_the_server_nothing(conn: Conn) -> None:
    gate = PgGate(conn)
    run(gate, "SELECT 1;")
    conn.close()  # any query in restore would fail now
    gate.restore()


def test_a_statement_that_fails_raises_the_servers_error(conn: Conn) -> None:
    gate = PgGate(conn)
    with pytest.raises(psycopg.errors.UndefinedTable):
        gate.execute(split("UPDATE missing SET a = 1;")[0])


def test_rowcount_is_the_rows_the_statement_changed(conn: Conn) -> None:
    gate = PgGate(conn)
    run(gate, "INSERT INTO patients VALUES (1, 'a'), (2, 'b');")
    assert gate.rowcount == 2
    run(gate, "UPDATE patients SET name = 'c' WHERE id = 1;")
    assert gate.rowcount == 1
    assert one(conn, "SELECT name FROM patients WHERE id = 1") == "c"


def test_a_custom_setting_the_runner_had_is_set_back_to_its_value(conn: Conn) -> None:
    conn.execute("SET app.tenant = 'runner'")
    gate = PgGate(conn, no_transaction=True)
    run(gate, "SELECT set_config('app.tenant', 'file', false);")
    assert one(conn, "SELECT current_setting('app.tenant')") == "file"
    gate.restore()
    assert one(conn, "SELECT current_setting('app.tenant')") == "runner"
