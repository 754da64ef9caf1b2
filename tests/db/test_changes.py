"""ci.db.changes: the runner's applied rows are read once while nothing changes, and read again
after any change, by another connection or its own, committed or rolled back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ci.db.changes import AppliedRows
from ci.db.connection import connect
from ci.migrate import main
from tests.conftest import BASE, MIGRATIONS, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]


def applied_db(write_tree: WriteTree, tmp_path: Path) -> Path:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    assert main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), "--no-backup"]) == 0
    return db


def reads_of_the_table(conn: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(
        lambda sql: seen.append(sql) if "FROM main.schema_version" in sql else None
    )
    return seen


def test_the_rows_are_read_once_while_nothing_changes(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    conn = connect(applied_db(write_tree, tmp_path))
    seen = reads_of_the_table(conn)
    rows = AppliedRows()
    first = rows.read(conn)
    reads = len(seen)
    assert [r.version for r in rows.read(conn)] == [r.version for r in first] == [1, 2]
    assert len(seen) == reads  # the second answer came without a query of the table
    first.clear()
    assert len(rows.read(conn)) == 2  # a caller's change to its list reaches no one else


def test_a_commit_by_another_connection_is_seen(write_tree: WriteTree, tmp_path: Path) -> None:
    db = applied_db(write_tree, tmp_path)
    conn = connect(db)
    rows = AppliedRows()
    assert len(rows.read(conn)) == 2
    other = sqlite3.connect(db)
    other.execute("DELETE FROM schema_version WHERE version = 2")
    other.commit()
    other.close()
    assert [r.version for r in rows.read(conn)] == [1]


def test_this_connections_changes_are_seen_committed_or_rolled_back(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    conn = connect(applied_db(write_tree, tmp_path))
    rows = AppliedRows()
    assert len(rows.read(conn)) == 2
    conn.execute("BEGIN")
    conn.execute("DELETE FROM schema_version WHERE version = 2")
    assert [r.version for r in rows.read(conn)] == [1]  # inside the transaction
    conn.execute("ROLLBACK")
    assert [r.version for r in rows.read(conn)] == [1, 2]
    conn.execute("DELETE FROM schema_version WHERE version = 2")  # autocommit
    assert [r.version for r in rows.read(conn)] == [1]
