"""Dirty marks as the runner handles them: opened before a @no-transaction or @batch migration
starts, taken over by --resume only when their holder has provably stopped, kept open with the
error when it fails, cleared by --force-clean.

The rows themselves are written by ci.db.bookkeeping; the holder is told apart by
ci.db.holders; what each situation tells the user is ci.db.dirty's.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from ci.core.model import Migration, SqlFile
from ci.db import bookkeeping
from ci.db.bookkeeping import DirtyMark, Entry
from ci.db.connection import explain, is_environmental
from ci.db.dirty import being_applied_message, dirty_message, unproven_holder_message
from ci.db.outcomes import CannotRun, MigrationFailed, RunRefused, whole_ms
from ci.db.session import Session


def open_or_reuse_mark(session: Session, entry: Entry, *, resume: bool = False) -> DirtyMark | None:
    """In one transaction: None if already applied, else the open mark (new or resumed).

    An existing mark is taken over only when `resume` is asked and its holder has provably
    stopped, decided here, inside the write lock that takes it: otherwise two runners that
    both saw no holder (or the same dead one) could both start the migration.
    """
    conn = session.conn
    session.begin()
    try:
        if bookkeeping.is_applied(conn, entry.track, entry.version):
            session.rollback_quietly()
            return None
        mark = bookkeeping.find_mark(conn, entry)
        if mark is None:
            mark = bookkeeping.open_mark(conn, entry)
        else:
            refuse_unless_holder_gone(mark, session.db_name())
            if not resume:
                raise RunRefused(dirty_message(mark))
            label = f"{entry.version:04d}"
            session.notice(f"resuming {label} {entry.description} ({mark.rows_done} rows done)")
            bookkeeping.log(conn, "resume", entry, rows=mark.rows_done)
            bookkeeping.take_mark(conn, mark.id)
        conn.execute("COMMIT")
    except BaseException:
        session.rollback_quietly()
        raise
    return mark


def take_over_marks(session: Session, entries: list[Entry]) -> dict[tuple[str, int], int]:
    """On --resume, inside the caller's write transaction: the open dirty marks of `entries`
    (a migration whose @no-transaction run failed, since made transactional), each taken over
    once its holder has provably stopped, by (track, version). The caller clears each with
    its migration's row, in the same transaction: a mark left open would refuse the next run
    although the migration is applied."""
    wanted = {(entry.track, entry.version): entry for entry in entries}
    taken: dict[tuple[str, int], int] = {}
    for mark in bookkeeping.open_marks(session.conn):
        entry = wanted.get((mark.track, mark.version))
        if entry is None:
            continue
        refuse_unless_holder_gone(mark, session.db_name())
        session.notice(f"resuming {mark.label} {entry.description} ({mark.rows_done} rows done)")
        bookkeeping.log(session.conn, "resume", entry, rows=mark.rows_done)
        taken[mark.track, mark.version] = mark.id
    return taken


def record_applied(
    session: Session,
    file: SqlFile,
    entry: Entry,
    started: float,
    rows: int,
    *,
    enforced: bool,
    marks: Iterable[int] = (),
    log: bool,
    read_back: bool = True,
) -> float:
    """Inside the caller's transaction, once a migration's statements have all run: the
    foreign-key check its disabled enforcement owes, then its schema_version row, the dirty
    marks it finishes cleared and (`log`) its 'apply' line, with one clock reading. The one
    finish of every way a migration is applied (alone, in a group, marked). Returns the
    seconds since `started`; `read_back`: see bookkeeping.record."""
    if not enforced:
        session.foreign_key_check(file)
    seconds = time.perf_counter() - started
    ms = whole_ms(seconds)
    conn = session.conn
    with session.own_rows(file):
        at = bookkeeping.now_utc()
        bookkeeping.record(conn, entry, ms=ms, rows=rows, read_back=read_back, at=at)
        for mark_id in marks:
            bookkeeping.clear_mark(conn, mark_id)
        if log:
            bookkeeping.log(conn, "apply", entry, ms=ms, rows=rows, at=at)
    return seconds


def refuse_unless_holder_gone(mark: DirtyMark, db: str) -> None:
    """CannotRun (one line) unless the process holding the mark has provably stopped."""
    state, why = mark.holder()
    if state == bookkeeping.ALIVE:
        raise CannotRun(being_applied_message(mark))
    if state != bookkeeping.GONE:
        raise CannotRun(unproven_holder_message(mark, why, db))


def fail_mark(
    session: Session,
    mark: DirtyMark,
    entry: Entry,
    failure: MigrationFailed,
    *,
    committed: str,
    rows: int | None = None,
    batch: bool = False,
) -> None:
    """Keep the dirty mark open with the error (and the rows done, when given), log the
    failure, and say in it what stays committed (`committed`, e.g. 'the statements before
    line 3 stay committed')."""
    kind = "@batch" if batch else "@no-transaction"
    failure.left_dirty = f"{mark.label} is a {kind} migration; {committed}"
    try:
        session.begin()
        bookkeeping.update_mark(session.conn, mark.id, rows=rows, error=str(failure))
        bookkeeping.log(session.conn, "failed", entry, error=str(failure))
        session.conn.execute("COMMIT")
    except (sqlite3.Error, bookkeeping.NotWritten):
        session.rollback_quietly()


@contextmanager
def says_dirty_if_stopped(
    session: Session, migration: Migration, what_ran: Callable[[], str], then: str
) -> Iterator[None]:
    """A @no-transaction or @batch migration stopped by an error about the database file
    (locked by another process, disk full) has committed part of its work and left its
    dirty mark open: the one line says so, `what_ran()`, and what to run next."""
    try:
        yield
    except sqlite3.Error as error:
        if not is_environmental(error):
            raise
        session.rollback_quietly()
        kind = "@batch" if migration.directives.batch is not None else "@no-transaction"
        db = session.db_name()
        raise CannotRun(
            f"{explain(error, db, session.busy_timeout())}; the database is now dirty: "
            f"{migration.label} {migration.slug} ({kind}) did not finish: {what_ran()}; "
            "when no other process holds the database, run "
            f"python -m ci.migrate --db {db} --resume ({then})"
        ) from None


def force_clean(session: Session) -> list[DirtyMark]:
    """Clear every open dirty mark (the migrations stay not applied); returns them."""
    conn = session.conn
    with session.guard():
        session.begin()
        try:
            marks = bookkeeping.open_marks(conn)
            for mark in marks:
                # the one override for a holder that cannot be proven gone; never for one
                # that is seen running (a third run could then start the same migration)
                if mark.holder()[0] == bookkeeping.ALIVE:
                    raise CannotRun(being_applied_message(mark))
                bookkeeping.clear_mark(conn, mark.id)
                entry = Entry(mark.version, mark.migration_type, mark.description, mark.file_hash)
                bookkeeping.log(conn, "force-clean", entry, rows=mark.rows_done)
            conn.execute("COMMIT")
        except BaseException:
            session.rollback_quietly()
            raise
    return marks


def committed_before(file: SqlFile, line: int | None) -> str:
    """What of a @no-transaction migration stays committed when the statement at `line` failed."""
    if line is None:
        return "all its statements stay committed"
    if sum(statement.line == line for statement in file.statements) > 1:
        # several statements start on that line: which one failed, the line cannot tell
        return f"the statements before the failing one on line {line} stay committed"
    if all(statement.line >= line for statement in file.statements):
        return "none of its statements was committed"
    return f"the statements before line {line} stay committed"
