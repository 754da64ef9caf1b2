"""`@batch N` migrations: one DML statement repeated with `:batch_size` = N, committing after
each batch, until it changes no row (large data).

A dirty mark in `schema_version_log` is opened before the first batch and carries the rows done,
updated in the same transaction as each batch; so after a crash (even `kill -9`) the database
says exactly how far it got, and `--resume` simply continues: the statement's own WHERE clause
skips rows that are already done. The `schema_version` row is written in the last transaction,
the one in which the statement changed nothing. Nothing is fetched, so memory stays flat.

A batch must never change a row twice (its WHERE excludes the rows already done), so in one run
the statement changes at most as many rows as its table holds: those there when the run started
(UPDATE, DELETE) or there now (an INSERT adds the rows it changes). A statement that changes
more than both together keeps matching rows it already changed (`SET x = x + 1` with a WHERE
that stays true) and would never end: it stops with a Runaway failure naming the statement (see
RowBound). An INSERT that keeps adding new rows forever is not caught this way; the checks' and
the runner's --statement-timeout stop it.
"""

from __future__ import annotations

import re
import sqlite3
import time

from ci.core.model import Migration
from ci.core.sqltext import Statement
from ci.db import bookkeeping
from ci.db.bookkeeping import Entry
from ci.db.marks import fail_mark, open_or_reuse_mark, record_applied, says_dirty_if_stopped
from ci.db.outcomes import MigrationFailed, Outcome, Runaway
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
            fail_mark(session, mark, entry, failure, committed=_finished(done), batch=True)
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

        with says_dirty_if_stopped(session, migration, what_ran, "it continues where it stopped"):
            while True:
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
                        session.commit(file)
                        committed = done
                        progress.update(changed)
                        continue
                    seconds = record_applied(
                        session,
                        file,
                        entry,
                        started,
                        done,
                        enforced=enforced,
                        marks=(mark.id,),
                        log=True,
                    )
                    session.commit(file)
                    break
                except MigrationFailed as failure:
                    session.rollback_quietly()
                    fail_mark(session, mark, entry, failure, committed=_finished(committed),
                              batch=True)  # fmt: skip
                    raise
                except BaseException:
                    session.rollback_quietly()
                    raise
        progress.finish()
    return Outcome(migration, "applied", done, seconds)


def _finished(rows: int) -> str:
    """What of a failed @batch migration stays committed: the batches before the failing one."""
    if not rows:
        return "none of its batches was committed"
    return f"its finished batches ({rows:,} rows) stay committed"


def _total(session: Session, migration: Migration) -> int | None:
    """The @progress query's answer: the rows still to change when this run starts."""
    query = migration.directives.progress
    if not query:
        return None
    line = next(
        (n for n, text in enumerate(migration.file.text.split("\n"), 1) if "@progress" in text),
        None,
    )
    try:
        with session.clock.limited(migration.path, line):  # the migration's clock runs on
            row = session.conn.execute(query).fetchone()
    except sqlite3.Error as error:
        raise MigrationFailed(migration.path, line, f"@progress query failed: {error}") from None
    if row is None or not isinstance(row[0], int):
        raise MigrationFailed(migration.path, line, "@progress query must return one number")
    return int(row[0])


class RowBound:
    """Stops a @batch statement that changes more rows in one run than its table can hold.

    Legitimately the statement changes each row at most once, so the rows it changed (its own,
    not its triggers') stay at or below max(rows at the start, rows now) <= their sum. The
    table is counted once at the start and again only each time the total passes the bound
    (an INSERT into an empty table: at 1, 2, 4, 8, ... times its first batch), so the counting
    costs about one more pass over the table. A runaway UPDATE stops after twice the table."""

    def __init__(self, conn: sqlite3.Connection, statement: Statement) -> None:
        self.conn = conn
        self.statement = statement
        match = TARGET.match(statement.code)
        self.table = match["name"] if match else None
        self.start = self.rows()
        self.bound = self.start
        self.changed = 0
        self.batches = 0

    def rows(self) -> int:
        """Rows of the statement's table (of every table when it cannot be told)."""
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

    def passed(self, rowcount: int, migration: Migration) -> None:
        """Count one batch's rows; raise Runaway when the run changed more than can be."""
        self.batches += 1
        self.changed += max(rowcount, 0)
        if self.changed <= self.bound:
            return
        self.bound = self.start + self.rows()
        if self.changed <= self.bound:
            return
        where = self.table or "the database"
        raise Runaway(
            migration.path,
            self.statement.line,
            f"@batch: {self.batches:,} batches changed {self.changed:,} rows, more than "
            f"{where} holds (at most {self.bound:,}: its rows at the start plus now); its WHERE "
            "keeps matching rows already changed, so it would never end",
            "make the WHERE exclude the rows already done (e.g. WHERE x IS NULL for a "
            "backfill of x), so the last batch changes nothing",
        )
