"""`@batch N` migrations on PostgreSQL, with SQLite's contract (ci.db.batch): the one DML
statement repeated with :batch_size = N, each batch in a transaction of its own, until it
changes no row; the `schema_version` row written in that last transaction.

A dirty mark is opened before the first batch (as for @no-transaction: ci.db.postgres.steps)
and carries the rows done, updated in each batch's transaction; so after a crash, a kill -9
included (the server rolls back the batch of a session whose client is gone), the database
says how far it got and `--resume` continues: the statement's WHERE skips the rows done. Each
batch runs through the gatekeeper under the run's lock_timeout and statement_timeout, with its
own --statement-timeout deadline, and the runner's tables are compared before and after it (a
batch's dynamic SQL must not change them). The loop, the bound that stops a statement that
would never end and the @progress query's answer are ci.db.batch_loop's.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, TextIO

import psycopg

from ci.core.model import InputError, Migration, label_of
from ci.core.sqltext import Statement
from ci.db.batch_loop import (
    BatchBound,
    finished_batches,
    progress_line,
    progress_total,
    repeat_batches,
)
from ci.db.dirty import dirty_message
from ci.db.outcomes import MigrationFailed, Outcome, RunRefused
from ci.db.postgres.batch_file import SizedFile, target
from ci.db.postgres.connect import PgConnection, one_line
from ci.db.postgres.execute import run_file, statements
from ci.db.postgres.statements import PgGate, PgStatement, split
from ci.db.postgres.steps import PgRunner as StepsRunner
from ci.db.postgres.steps import finish, transaction, transaction_asking
from ci.db.postgres.tables_snapshot import SnapshotQuery, read_snapshot, refuse_changed
from ci.db.progress import Progress


class PgRunner(StepsRunner, Protocol):
    """What a @batch migration uses of ci.db.postgres.runner.PgRunner besides the steps'."""

    out: TextIO
    progress_interval: float


class _Run:
    """One run of a @batch migration under its open dirty mark: `done` rows so far (the
    mark's, on --resume, plus this run's committed batches)."""

    def __init__(self, runner: PgRunner, migration: Migration, mark_id: int, done: int) -> None:
        self.runner = runner
        self.migration = migration
        self.entry = runner.entry(migration)
        self.mark_id = mark_id
        self.done = done
        self.seconds = 0.0
        self.started = time.perf_counter()
        self.sized = SizedFile(migration.file, migration.directives.batch or 1)
        self.statement = statements(self.sized)[0]

    def batch(self, bound: BatchBound) -> int:
        """One batch in its transaction: the rows it changed, committed with the mark's count;
        or, when it changed none, the migration's row and the mark cleared (returns 0)."""
        runner, conn, path = self.runner, self.runner.conn, self.migration.path

        def ask() -> SnapshotQuery:  # the runner's tables before, sent with BEGIN
            return runner.tables.ask_snapshot(conn.cursor(), in_transaction=True)

        try:
            with transaction_asking(runner, ask, limits=True) as asked:
                before = read_snapshot(asked)
                rows = run_file(conn, self.sized, notice=runner.notice,
                                timeout=runner.statement_timeout)  # fmt: skip
                if not rows:
                    timing = (self.started, self.done)
                    self.seconds = finish(runner, self.entry, path, timing, [self.mark_id],
                                          before, lock_where=self.sized.location)  # fmt: skip
                    return 0
                bound.passed(rows, self.migration)
                refuse_changed(before, runner.tables.snapshot(conn, in_transaction=True), path)
                runner.tables.set_mark(conn, self.mark_id, "rows_affected = %s", self.done + rows)
        except psycopg.Error as error:  # at COMMIT: a deferred constraint violated
            if conn.closed or conn.broken:
                raise
            failure = MigrationFailed(path, None, f"at commit: {one_line(error)}")
            raise self.failed(failure) from None
        except MigrationFailed as failure:
            raise self.failed(failure) from None
        self.done += rows
        return rows

    def failed(self, failure: MigrationFailed) -> MigrationFailed:
        """Keep the mark open with the error and the rows the finished batches changed; log
        the failure; say what stays committed. Returns `failure` to raise."""
        entry, runner = self.entry, self.runner
        failure.left_dirty = (
            f"{label_of(entry.track, entry.version)} is a @batch migration; "
            f"{finished_batches(self.done)}"
        )
        try:
            with transaction(runner):
                runner.tables.set_mark(runner.conn, self.mark_id, "error = %s", str(failure))
                runner.tables.set_mark(runner.conn, self.mark_id, "rows_affected = %s", self.done)
                runner.tables.log_attempt(runner.conn, "failed", entry, error=str(failure))
        except (psycopg.Error, InputError):
            pass  # best effort: the run's error is the one to report
        return failure


def apply_batch(runner: PgRunner, migration: Migration, *, resume: bool) -> Outcome:
    """Apply a @batch migration batch by batch under its dirty mark (see the module's doc)."""
    opened = _open_mark(runner, migration, resume=resume)
    if opened is None:
        return Outcome(migration, "skipped", 0, 0.0)
    run = _Run(runner, migration, *opened)
    try:
        with transaction(runner, limits=True):  # before the first batch, under its limits
            total = _total(runner, migration)
            bound = _PgBound(runner.conn, run.statement, migration)
    except MigrationFailed as failure:
        raise run.failed(failure) from None
    progress = Progress(runner.out, f"{migration.label} {migration.slug}", total,
                        interval=runner.progress_interval)  # fmt: skip
    repeat_batches(lambda: run.batch(bound), progress)
    progress.finish()
    return Outcome(migration, "applied", run.done, run.seconds)


def _open_mark(runner: PgRunner, migration: Migration, *, resume: bool) -> tuple[int, int] | None:
    """In one transaction: None if applied already, else the open mark's id and rows done (a
    new mark, or the one a stopped run left, taken over on --resume: the runner's lock, held
    for the whole run, tells that its holder has stopped)."""
    entry, conn, tables = runner.entry(migration), runner.conn, runner.tables
    with transaction(runner):
        if tables.is_applied(conn, entry.track, entry.version):
            return None
        marks = [m for m in tables.open_marks(conn)
                 if (m.track, m.version) == (entry.track, entry.version)]  # fmt: skip
        if not marks:
            return tables.open_mark(conn, entry), 0
        if not resume:
            raise RunRefused(dirty_message(marks[0]))
        mark = marks[0]
        runner.notice(f"resuming {migration.label} {entry.description} "
                      f"({mark.rows_done} rows done)")  # fmt: skip
        tables.log_attempt(conn, "resume", entry, rows=mark.rows_done)
        return mark.id, mark.rows_done


def _total(runner: PgRunner, migration: Migration) -> int | None:
    """The @progress query's answer, the rows still to change when this run starts: one
    statement the gatekeeper would send as it is (it reaches nothing outside the database)."""
    query = migration.directives.progress
    if not query:
        return None
    conn, line = runner.conn, progress_line(migration)
    try:
        pieces = split(query, source=f"{migration.path}:{line}")
    except InputError as error:
        raise MigrationFailed(migration.path, line, f"@progress query failed: {error}") from None
    gate = PgGate(conn, throwaway=conn.throwaway, dry_run=conn.dry_run)
    tree = pieces[0].tree if len(pieces) == 1 and isinstance(pieces[0], PgStatement) else None
    if tree is None or not gate.as_is(pieces[0], tree):
        raise MigrationFailed(migration.path, line, "@progress query must be one plain query "
                              "that returns one number")  # fmt: skip
    try:
        row: Any = conn.execute(pieces[0].raw, prepare=False).fetchone()
    except psycopg.Error as error:
        if conn.closed or conn.broken:
            raise
        message = f"@progress query failed: {one_line(error)}"
        raise MigrationFailed(migration.path, line, message) from None
    return progress_total(migration, None if row is None else tuple(row))


class _PgBound(BatchBound):
    """BatchBound counting with PostgreSQL: the table of the statement's parse tree."""

    def __init__(self, conn: PgConnection, statement: Statement, migration: Migration) -> None:
        self.conn = conn
        self.path = migration.path
        found = target(statement)
        assert found is not None  # ci.db.postgres.batch_file.problems refused the file else
        self.table, self.query = found
        super().__init__(statement)

    def rows(self) -> int:
        try:
            row: Any = self.conn.execute(self.query).fetchone()
        except psycopg.Error as error:
            if self.conn.closed or self.conn.broken:
                raise
            message = f"@batch: cannot count the rows of {self.table}: {one_line(error)}"
            raise MigrationFailed(self.path, self.statement.line, message) from None
        return int(row[0])
