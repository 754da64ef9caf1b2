"""A fingerprint does not scan a table whose heap has no page (it has no rows), and reads
exactly what a scan would have read: the same counts and content hashes as a table that had rows
and lost them, and a table's rows still counted however few."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ci.db.postgres.fingerprint import fingerprint
from ci.db.postgres.fingerprint_data import NO_ROWS

pytestmark = pytest.mark.postgresql


@pytest.fixture
def conn(pg_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database_url, autocommit=True) as connection:
        yield connection


def data(conn: psycopg.Connection[Any], content: bool = True) -> dict[str, object]:
    print_ = fingerprint(conn, content=content)
    return {key: (group.rows, group.digest) for key, group in print_.groups.items()}


def test_never_written_emptied_and_truncated_tables_read_alike(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        "CREATE TABLE never (id int); CREATE TABLE emptied (id int); CREATE TABLE cut (id int);"
        "CREATE TABLE kept (id int); CREATE SCHEMA s; CREATE TABLE s.never (id int);"
        "INSERT INTO emptied VALUES (1); DELETE FROM emptied;"
        "INSERT INTO cut VALUES (1); TRUNCATE cut; INSERT INTO kept VALUES (7)"
    )
    sizes = dict(
        conn.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname IN "
            "('never', 'emptied', 'cut')"
        ).fetchall()
    )
    assert sizes["never"] == 0 and sizes["cut"] == 0 and sizes["emptied"] > 0  # scanned and not
    read = data(conn)
    assert read["never"] == read["emptied"] == read["cut"] == read["s.never"] == (0, NO_ROWS)
    assert read["kept"][0] == 1 and read["kept"][1] != NO_ROWS
    assert data(conn, content=False)["never"] == (0, None)


def test_a_row_written_in_the_callers_open_transaction_is_counted(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("CREATE TABLE t (id int)")
    empty = data(conn)["t"]
    with conn.transaction(force_rollback=True):
        conn.execute("INSERT INTO t VALUES (1)")
        assert data(conn)["t"][0] == 1
    assert data(conn)["t"] == empty == (0, NO_ROWS)
