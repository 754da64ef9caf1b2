"""The PostgreSQL runner's apply steps: one migration in one transaction with its row, or one
`@no-transaction` migration under a dirty mark; and what every step shares (the transaction,
the time limits, logging a failure). Each asks, inside its transaction, whether another runner
got there first. A failure rolls its transaction back whole, then logs the attempt in a
transaction of its own. Rolling back is ci.db.postgres.rollback's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg

from ci.core.model import InputError, Migration, SqlFile, label_of
from ci.db.bookkeeping import now_utc
from ci.db.dirty import dirty_message
from ci.db.outcomes import MigrationFailed, Outcome, RunRefused, whole_ms
from ci.db.postgres.bookkeeping import Tables, check_mark_set, found, logged_id
from ci.db.postgres.connect import Cursor, PgConnection, one_line
from ci.db.postgres.execute import run_file, statements
from ci.db.postgres.session import ask_holds_lock, refuse_unless_locked
from ci.db.postgres.tables_snapshot import (
    IMMEDIATE,
    Snapshot,
    SnapshotQuery,
    read_snapshot,
    refuse_changed,
)
from ci.db.records import DirtyMark, Entry

T = TypeVar("T")


class PgRunner(Protocol):
    """What the steps use of ci.db.postgres.runner.PgRunner (named here: the runner imports
    this module)."""

    conn: PgConnection
    tables: Tables
    throwaway: bool
    statement_timeout: float | None
    lock_timeout: float | None
    no_seeds_recorded: bool
    locked: bool

    def notice(self, message: str) -> None: ...

    def entry(self, migration: Migration) -> Entry: ...


@contextmanager
def transaction(runner: PgRunner, *, limits: bool = False) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back on any exception. `limits`: the run's lock_timeout and
    statement_timeout, with SET LOCAL (they end with the transaction)."""
    with transaction_asking(runner, _nothing, limits=limits):
        yield


@contextmanager
def transaction_asking(
    runner: PgRunner, ask: Callable[[], T], *, limits: bool = False
) -> Iterator[T]:
    """`transaction` whose first queries, sent by `ask`, go with BEGIN and the limits in one
    round trip (psycopg's pipeline mode); the block reads their answers from what `ask`
    returned (ci.db.postgres.bookkeeping's `ask_...` methods)."""
    conn = runner.conn
    try:
        if limits or ask is not _nothing:
            with conn.pipeline():
                conn.execute("BEGIN")
                if limits:
                    set_limits(runner, local=True)
                asked = ask()
        else:
            conn.execute("BEGIN")
            asked = ask()
        yield asked
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(runner)
        raise


def _nothing() -> Any:
    return None


def set_limits(runner: PgRunner, *, local: bool) -> None:
    for statement in limit_statements(runner, local=local):
        runner.conn.execute(statement)


def limit_statements(runner: PgRunner, *, local: bool) -> list[str]:
    """The SET statements of the run's lock_timeout and statement_timeout (none unset)."""
    scope = "LOCAL " if local else ""
    return [
        f"SET {scope}{name} = {max(1, int(seconds * 1000))}"
        for name, seconds in (
            ("statement_timeout", runner.statement_timeout),
            ("lock_timeout", runner.lock_timeout),
        )
        if seconds is not None
    ]


def rollback_quietly(runner: PgRunner) -> None:
    conn = runner.conn
    if conn.closed or conn.broken:
        return
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")


def file_problems(migration: Migration, file: SqlFile | None = None) -> list[str]:
    """Why a migration file cannot run on PostgreSQL, as `path[:line]: message` lines."""
    file = migration.file if file is None else file
    try:
        if file.directives.batch is not None:
            from ci.db.postgres import batch_file  # @batch is rare: not on every run's start-up

            return batch_file.problems(file)
        statements(file)
    except InputError as error:
        return [str(error)]
    return []


def check_deferred(conn: PgConnection, path: Path | str) -> None:
    """What COMMIT would check, now: the deferred constraints (SET CONSTRAINTS ALL IMMEDIATE).
    A violation is the file's failure, `at commit: ...`, as a migration's own COMMIT names it."""
    try:
        conn.execute(IMMEDIATE)
    except psycopg.Error as error:
        if conn.closed or conn.broken:
            raise
        raise MigrationFailed(path, None, f"at commit: {one_line(error)}") from None


def log_failure(runner: PgRunner, entry: Entry, failure: MigrationFailed, action: str) -> None:
    """Append the failure to the log in its own transaction (best effort: the run's error is
    the one to report)."""
    try:
        with transaction(runner):
            runner.tables.log_attempt(runner.conn, action, entry, error=str(failure))
    except (psycopg.Error, InputError):
        pass


def finish(
    runner: PgRunner,
    entry: Entry,
    path: Path,
    timing: tuple[float, int],
    marks: list[int],
    before: Snapshot,
    *,
    lock_where: str | None,
) -> float:
    """Before COMMIT, in one round trip: whether the session still holds the runner's lock
    (`lock_where`: the file to name, None: not asked here), the deferred triggers fired, the
    runner's tables compared with `before`, then the migration's row written and read back, the
    marks it finishes and its log line. The answers are read in that order, so each refusal
    reads as when every query was a round trip of its own (a row written before a refusal is
    rolled back with the transaction). `timing`: (when the migration started, its rows)."""
    conn, tables = runner.conn, runner.tables
    started, rows = timing
    seconds = time.perf_counter() - started
    ms, at = whole_ms(seconds), now_utc()
    lock, immediate, after, read_back, log = (conn.cursor() for _ in range(5))
    updates = [conn.cursor() for _ in marks]
    asks_lock = lock_where is not None and runner.locked
    failed: psycopg.Error | None = None
    try:
        with conn.pipeline():
            try:
                if asks_lock:
                    ask_holds_lock(lock)
                immediate.execute(IMMEDIATE)  # deferred triggers fire now, not at COMMIT
                tables.ask_snapshot(after, in_transaction=before.in_transaction)
                tables.ask_record(read_back, entry, ms=ms, rows=rows, at=at)
                for mark_id, update in zip(marks, updates, strict=True):
                    tables.ask_set_mark(update, mark_id, "cleared_at = %s", at)
                if not runner.throwaway:
                    tables.ask_log(log, "apply", entry, ms=ms, rows=rows, at=at)
            except psycopg.Error as error:  # an answer read while sending: end the pipeline
                failed = error  # quietly (raising here, psycopg would log 'error ignored')
    except psycopg.Error as error:  # the first that failed; those after it were not run
        failed = failed or error
    if lock_where is not None:  # first: a migration that let the lock go stops the run
        _answered(lock if asks_lock else None, failed)
        refuse_unless_locked(conn, lock_where, locked=runner.locked, asked=lock)
    _answered(immediate, failed)  # a deferred constraint violated: "at commit"
    if after.pgresult is None and isinstance(failed, psycopg.errors.UndefinedTable):
        refuse_changed(before, None, path)  # dropped by dynamic SQL
    _answered(after, failed)
    refuse_changed(before, read_snapshot(SnapshotQuery(after, before.in_transaction)), path)
    if failed is not None:
        raise failed
    tables.check_recorded(read_back)
    for update in updates:
        check_mark_set(update)
    if not runner.throwaway:
        logged_id(log)
    return seconds


def _answered(cursor: Cursor | None, failed: psycopg.Error | None) -> None:
    """Raise the pipeline's error when the statement sent on `cursor` got no answer."""
    if cursor is not None and cursor.pgresult is None and failed is not None:
        raise failed


def _marks_of(runner: PgRunner, entry: Entry) -> list[DirtyMark]:
    return [
        m
        for m in runner.tables.open_marks(runner.conn)
        if (m.track, m.version) == (entry.track, entry.version)
    ]


# --- apply -----------------------------------------------------------------------------------


def apply_in_transaction(runner: PgRunner, migration: Migration, *, resume: bool) -> Outcome:
    """The migration and its schema_version row in one transaction. `resume`: a dirty mark
    left by an earlier @no-transaction version of it is cleared with its row."""
    entry, conn, file = runner.entry(migration), runner.conn, migration.file
    started = time.perf_counter()

    def ask() -> tuple[Cursor, SnapshotQuery]:  # whether applied meanwhile, the tables before
        applied, before = conn.cursor(), conn.cursor()
        runner.tables.ask_applied(applied, entry.track, entry.version)
        return applied, runner.tables.ask_snapshot(before, in_transaction=True)

    try:
        with transaction_asking(runner, ask, limits=True) as (applied, asked_before):
            if found(applied):
                return Outcome(migration, "skipped", 0, 0.0)  # the rollback changes nothing
            before = read_snapshot(asked_before)
            marks = [m.id for m in _marks_of(runner, entry)] if resume else []
            rows = run_file(conn, file, notice=runner.notice, timeout=runner.statement_timeout)
            seconds = finish(
                runner, entry, file.path, (started, rows), marks, before, lock_where=file.location
            )
    except psycopg.Error as error:  # at COMMIT: a deferred constraint still violated
        if conn.closed or conn.broken:
            raise
        failure = MigrationFailed(file.path, None, f"at commit: {one_line(error)}")
        log_failure(runner, entry, failure, "failed")
        raise failure from None
    except MigrationFailed as failure:
        log_failure(runner, entry, failure, "failed")
        raise
    return Outcome(migration, "applied", rows, seconds)


def apply_autocommit(runner: PgRunner, migration: Migration, *, resume: bool) -> Outcome:
    """@no-transaction: a dirty mark, each statement committing on its own, then the row
    and the mark cleared in one transaction."""
    entry, conn, file = runner.entry(migration), runner.conn, migration.file
    started = time.perf_counter()
    with transaction(runner):
        if runner.tables.is_applied(conn, entry.track, entry.version):
            return Outcome(migration, "skipped", 0, 0.0)
        marks = _marks_of(runner, entry)
        if marks and not resume:
            raise RunRefused(dirty_message(marks[0]))
        if marks:
            mark_id = marks[0].id
            runner.notice(f"resuming {migration.label} {entry.description} "
                          f"({marks[0].rows_done} rows done)")  # fmt: skip
            runner.tables.log_attempt(conn, "resume", entry, rows=marks[0].rows_done)
        else:
            mark_id = runner.tables.open_mark(conn, entry)
    before, tables_before = conn.changes, runner.tables.snapshot(conn)
    try:
        set_limits(runner, local=False)
        try:
            rows = run_file(conn, file, no_transaction=True, notice=runner.notice,
                            timeout=runner.statement_timeout)  # fmt: skip
        finally:
            _reset_limits(runner)
    except MigrationFailed as failure:
        committed = _committed_before(file, failure.line)
        _fail_mark(runner, mark_id, entry, failure, conn.changes - before, committed)
        raise
    refuse_unless_locked(
        conn, file.location, locked=runner.locked, committed=True
    )  # its mark stays open
    try:
        with transaction(runner):
            timing = (started, rows)
            seconds = finish(
                runner, entry, file.path, timing, [mark_id], tables_before, lock_where=None
            )
    except MigrationFailed as failure:
        _fail_mark(runner, mark_id, entry, failure, rows, "all its statements stay committed")
        raise
    return Outcome(migration, "applied", rows, seconds)


def _committed_before(file: SqlFile, line: int | None) -> str:
    """What of a @no-transaction migration stays committed when the statement at `line`
    failed (worded as ci.db.marks.committed_before, over the server's statements)."""
    lines = [statement.line for statement in statements(file)]
    if line is None:
        return "all its statements stay committed"
    line = max((first for first in lines if first <= line), default=line)  # where it starts
    if lines.count(line) > 1:
        return f"the statements before the failing one on line {line} stay committed"
    if all(first >= line for first in lines):
        return "none of its statements was committed"
    return f"the statements before line {line} stay committed"


def _reset_limits(runner: PgRunner) -> None:
    conn = runner.conn
    if not (conn.closed or conn.broken):
        for name, seconds in (("statement_timeout", runner.statement_timeout),
                              ("lock_timeout", runner.lock_timeout)):  # fmt: skip
            if seconds is not None:
                conn.execute(f"RESET {name}")


def _fail_mark(
    runner: PgRunner, mark_id: int, entry: Entry, failure: MigrationFailed, rows: int, said: str
) -> None:
    """Keep the mark open with the error and rows done; log the failure; say what stays."""
    failure.left_dirty = (
        f"{label_of(entry.track, entry.version)} is a @no-transaction migration; {said}"
    )
    try:
        with transaction(runner):
            runner.tables.set_mark(runner.conn, mark_id, "error = %s", str(failure))
            runner.tables.set_mark(runner.conn, mark_id, "rows_affected = %s", rows)
            runner.tables.log_attempt(runner.conn, "failed", entry, error=str(failure))
    except (psycopg.Error, InputError):
        pass
