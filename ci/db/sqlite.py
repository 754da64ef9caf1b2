"""The SQLite engine behind the database seam (ci.db.engine): `ENGINE` opens databases, a
`SqliteDatabase` is one open database.

It wraps what the tool already had: connections come from ci.db.runner.connect (autocommit, the
gate as the connection's one authorizer, a check's stricter rules on a throwaway database), the
gatekeeper (ci.db.gatekeeper) screens statements, ci.db.fingerprint reads fingerprints and
ci.db.bookkeeping keeps the runner's tables. Nothing here changes what they do. The runner and
the faces still hold plain sqlite3 connections; `ci.db.engine.database_of` sees one through this
engine.

The runner is imported inside the methods that need it: the checks that only read a database
(precheck, postcheck) never load it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from ci.core.errors import UsageError
from ci.db import bookkeeping
from ci.db.gatekeeper import Gate, Screen, gate_of
from ci.db.sqlite_checks import check_constraint_failures

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from ci.core.sqltext import Statement
    from ci.db.bookkeeping import AppliedRow, Entry
    from ci.db.fingerprint_records import Fingerprint


class SqliteStatementGate:
    """The gate of a connection with the rules for one file's statements (its Screen)."""

    __slots__ = ("gate", "screen", "word")

    def __init__(self, gate: Gate, screen: Screen, word: Callable[[Statement], str]) -> None:
        self.gate = gate
        self.screen = screen
        self.word = word  # the statement's first word, as the runner reads it

    def execute(
        self, statement: Statement, *, notice: Callable[[str], None] | None = None
    ) -> str | None:
        word = self.word(statement)
        return self.gate.execute(self.screen, word, statement.raw, statement.sql, notice)

    def restore(self) -> None:
        self.gate.restore(self.screen)


class SqliteDatabase:
    """One SQLite connection through the seam. `conn` stays reachable for the code that is not
    yet on the seam (the runner)."""

    __slots__ = ("conn",)
    error = sqlite3.Error

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def lock(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")  # the write lock now, not at the first write

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def gate(self, *, no_transaction: bool = False, rollback: bool = False) -> SqliteStatementGate:
        from ci.db.statements import leading_word

        gate = gate_of(self.conn)
        screen = gate.new_screen(no_transaction=no_transaction, rollback=rollback)
        return SqliteStatementGate(gate, screen, leading_word)

    def query(self, sql: str, limit: int) -> list[tuple[object, ...]]:
        # the connection's gate: on a check's database, the pragmas a migration may not run
        # there, a query may not run either
        rows: list[tuple[object, ...]] = gate_of(self.conn).query(sql).fetchmany(limit)
        return rows

    def time_limited(
        self, seconds: float | None, path: Path | str, line: int | None
    ) -> AbstractContextManager[None]:
        from ci.db.runner import time_limited

        return time_limited(self.conn, seconds, path, line)

    def fingerprint(self, *, content: bool = True) -> Fingerprint:
        from ci.db.fingerprint import fingerprint

        return fingerprint(self.conn, content=content)

    def schema_fingerprint(self) -> Fingerprint:
        from ci.db.fingerprint import schema_fingerprint

        return schema_fingerprint(self.conn)

    def integrity_problems(self, limit: int, *, verify_checks: bool = False) -> list[str]:
        rows = [str(r[0]) for r in self.conn.execute("PRAGMA integrity_check").fetchmany(limit)]
        if verify_checks:
            broken = list(check_constraint_failures(self.conn, limit))
            if broken:
                rows = [r for r in rows if r != "ok"] + broken
        return [] if rows == ["ok"] else rows

    def foreign_key_problems(self, limit: int) -> list[tuple[str, object, str]]:
        rows = self.conn.execute("PRAGMA foreign_key_check").fetchmany(limit)
        return [(table, rowid, parent) for table, rowid, parent, _fk in rows]

    def applied(self) -> list[AppliedRow]:
        return bookkeeping.read_applied(self.conn)

    def record(self, entry: Entry, *, ms: int, rows: int) -> None:
        bookkeeping.record(self.conn, entry, ms=ms, rows=rows)

    def unrecord(self, track: str, version: int) -> None:
        bookkeeping.unrecord(self.conn, track, version)


class SqliteEngine:
    """SQLite: a database is a file."""

    name = "sqlite"

    def connect_target(
        self,
        db: Path | str,
        *,
        setup: str | None = None,
        timeout: float = 30.0,
        readonly: bool = False,
    ) -> SqliteDatabase:
        from ci.db.runner import connect

        return SqliteDatabase(connect(db, setup=setup, timeout=timeout, readonly=readonly))

    def connect_throwaway(self, path: Path, *, setup: str | None = None) -> SqliteDatabase:
        from ci.db.runner import connect

        return SqliteDatabase(connect(path, setup=setup, durable=False))

    def clone(self, source: Path, path: Path, *, timeout: float) -> None:
        copy_database(source, path, timeout=timeout)


ENGINE = SqliteEngine()


def copy_database(source: Path, target: Path, *, timeout: float = 30.0) -> None:
    """Copy a database file without ever writing next to it.

    A rollback-journal database is copied with the backup API from a read-only connection. A
    WAL database cannot be read that way without SQLite creating `-wal`/`-shm` files beside it,
    so its file (and its `-wal`, if any) are copied as files and SQLite recovers the copy. So is
    a database that a crashed writer left with a hot `-journal`: a read-only connection cannot
    roll it back, the copy's first reader does.
    """
    from ci.db import runner

    if is_wal(source):
        copy_files(source, target, ("", "-wal"))
        return
    # another process's lock (an open write transaction, EXCLUSIVE locking mode) is waited
    # for `timeout` seconds (--busy-timeout), then one line: "...: locked by another process"
    try:
        original_conn = runner.connect(source, readonly=True, timeout=timeout)
    except runner.CannotRun as error:
        if "read-only" not in str(error) or not Path(f"{source}-journal").is_file():
            raise
        copy_files(source, target, ("", "-journal"))  # no live writer: it would hold a lock
        return
    try:
        copy = runner.connect(target, durable=False)
        try:
            original_conn.backup(copy)
        finally:
            copy.close()
    except sqlite3.Error as error:
        raise UsageError(runner.explain(error, str(source), timeout)) from None
    finally:
        original_conn.close()


def copy_files(source: Path, target: Path, suffixes: tuple[str, ...]) -> None:
    import shutil  # only a sample database file is copied so

    for suffix in suffixes:
        original = Path(f"{source}{suffix}")
        if original.exists():
            try:
                shutil.copyfile(original, f"{target}{suffix}")
            except OSError as error:
                raise UsageError(f"{original}: cannot copy: {error.strerror}") from None


def is_wal(path: Path) -> bool:
    """Whether the file's header says WAL mode (read and write versions 2, bytes 18-19)."""
    with path.open("rb") as handle:
        header = handle.read(20)
    return len(header) == 20 and header[18] == 2 and header[19] == 2
