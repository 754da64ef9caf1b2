"""`@batch N` migrations: one DML statement repeated with `:batch_size` = N, committing after
each batch, until it changes no row (large data).

A dirty mark in `schema_version_log` is opened before the first batch and carries the rows done,
updated in the same transaction as each batch; so after a crash (even `kill -9`) the database
says exactly how far it got, and `--resume` simply continues: the statement's own WHERE clause
skips rows that are already done. The `schema_version` row is written in the last transaction,
the one in which the statement changed nothing. Nothing is fetched, so memory stays flat.

What does not depend on the engine (the loop, the bound that stops a statement that would never
end, the @progress query's answer, the wording of a failure) is ci.db.batch_loop's; PostgreSQL's
runner does the same in ci.db.postgres.batch.
"""

from __future__ import annotations

import re
import sqlite3
import time

from ci.core.model import Migration
from ci.core.sqltext import Statement
from ci.db import bookkeeping
from ci.db.batch_loop import (
    BatchBound,
    finished_batches,
    progress_line,
    progress_total,
    repeat_batches,
)
from ci.db.bookkeeping import Entry
from ci.db.marks import fail_mark, open_or_reuse_mark, record_applied, says_dirty_if_stopped
from ci.db.outcomes import MigrationFailed, Outcome
from ci.db.progress import Progress
from ci.db.session import Session
from ci.db.statements import execute_statement

_NAME = r'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|\[[^\]]+\]|\w+)'
# the table a DML statement writes (a statement starting with WITH counts every table)
TARGET = re.compile(
    r"^(?:UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO)\s+"
    rf"(?P<name>{_NAME}(?:\s*\.\s*{_NAME})?)",
    re.IGNORECASE,
)


def apply_batch(
    session: Session,
    migration: Migration,
    entry: Entry,
    *,
    resume: bool = False,
    progress_interval: float = 5.0,
) -> Outcome:
    """Apply a @batch migration batch by batch under its dirty mark (see the module's doc);
    `resume`: a dirty mark left by a process that has stopped may be taken over."""
    file = migration.file
    statement = file.statements[0]
    size = migration.directives.batch or 1
    conn = session.conn
    started = time.perf_counter()
    with session.guard():
        mark = open_or_reuse_mark(session, entry, resume=resume)
        if mark is None:
            return Outcome(migration, "skipped", 0, 0.0)
        done = mark.rows_done
        try:
            total = _total(session, migration)
        except MigrationFailed as failure:
            fail_mark(session, mark, entry, failure, committed=finished_batches(done), batch=True)
            raise
        # with foreign keys enforced SQLite checks every batch itself (deferred ones at COMMIT);
        # only with them OFF is a foreign_key_check (a scan of every table) needed at the end
        enforced = session.foreign_keys_enforced()
        bound = RowBound(conn, statement)
        progress = Progress(session.out, f"{migration.label} {migration.slug}", total,
                            interval=progress_interval)  # fmt: skip
        committed = done

        def what_ran() -> str:
            # an error about the database file (locked, disk full) leaves the finished batches
            # committed and counted in the mark, the one in progress rolled back
            return f"{committed:,} rows done, each finished batch committed"

        seconds = 0.0

        def batch() -> int:
            nonlocal done, committed, seconds
            session.begin()
            try:
                before = conn.total_changes
                cursor = execute_statement(session, file, statement, {"batch_size": size})
                changed = conn.total_changes - before
                if changed:
                    bound.passed(cursor.rowcount, migration)
                    done += changed
                    with session.own_rows(file):
                        bookkeeping.update_mark(conn, mark.id, rows=done)
                else:
                    seconds = record_applied(
                        session, file, entry, started, done, enforced=enforced, marks=(mark.id,),
                        log=True,
                    )  # fmt: skip
                session.commit(file)
                committed = done
                return changed
            except MigrationFailed as failure:
                session.rollback_quietly()
                fail_mark(session, mark, entry, failure, committed=finished_batches(committed),
                          batch=True)  # fmt: skip
                raise
            except BaseException:
                session.rollback_quietly()
                raise

        with says_dirty_if_stopped(session, migration, what_ran, "it continues where it stopped"):
            repeat_batches(batch, progress)
        progress.finish()
    return Outcome(migration, "applied", done, seconds)


def _total(session: Session, migration: Migration) -> int | None:
    """The @progress query's answer: the rows still to change when this run starts."""
    query = migration.directives.progress
    if not query:
        return None
    line = progress_line(migration)
    try:
        with session.clock.limited(migration.path, line):  # the migration's clock runs on
            row = session.conn.execute(query).fetchone()
    except sqlite3.Error as error:
        raise MigrationFailed(migration.path, line, f"@progress query failed: {error}") from None
    return progress_total(migration, row)


class RowBound(BatchBound):
    """BatchBound counting with SQLite: the statement's table, read from its text (TARGET);
    every table's rows when it cannot be told."""

    def __init__(self, conn: sqlite3.Connection, statement: Statement) -> None:
        self.conn = conn
        match = TARGET.match(statement.code)
        self.table = match["name"] if match else None
        super().__init__(statement)

    def rows(self) -> int:
        if self.table is not None:
            try:
                return int(self.conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])
            except sqlite3.Error:
                self.table = None  # not a plain table name after all
        names = self.conn.execute(
            "SELECT '\"' || replace(name, '\"', '\"\"') || '\"' FROM sqlite_master "
            "WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
        ).fetchall()
        return sum(
            int(self.conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0]) for (n,) in names
        )
