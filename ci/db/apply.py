"""Applying one migration: in ONE transaction together with its `schema_version` row (the
common case), or statement by statement under a dirty mark (`@no-transaction`).

The transaction starts with `BEGIN IMMEDIATE`, so two runners serialise, and asks inside it
whether the migration was applied meanwhile. A leading `PRAGMA foreign_keys` is honoured outside
the transaction (SQLite ignores it inside one). `@batch` migrations are ci.db.batch's.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from functools import partial

from ci.core.model import Migration, SqlFile
from ci.db import bookkeeping
from ci.db.bookkeeping import Entry
from ci.db.marks import (
    committed_before,
    fail_mark,
    open_or_reuse_mark,
    record_applied,
    says_dirty_if_stopped,
    take_over_marks,
)
from ci.db.outcomes import MigrationFailed, Outcome
from ci.db.session import Session
from ci.db.statements import leading_foreign_keys, run_file


def guarded(session: Session, file: SqlFile, work: Callable[[bool], Outcome]) -> Outcome:
    """`work(foreign keys enforced)` under guard(), the file's leading PRAGMA foreign_keys
    honoured outside its transaction (in the common case, without a second context
    manager: this runs once per migration)."""
    setting = leading_foreign_keys(file)
    with session.guard():
        if setting is None or setting == session.foreign_keys_enforced():
            return work(session.foreign_keys_enforced())
        with session.foreign_keys(setting) as enforced:
            return work(enforced)


def apply_in_transaction(
    session: Session, migration: Migration, entry: Entry, *, resume: bool = False
) -> Outcome:
    """The migration and its schema_version row in one transaction. `resume`: its dirty mark,
    if any (left by an earlier @no-transaction version of it), is cleared with its row."""
    work = partial(_in_transaction, session, migration, entry, resume=resume)
    return guarded(session, migration.file, work)


def _in_transaction(
    session: Session, migration: Migration, entry: Entry, enforced: bool, *, resume: bool
) -> Outcome:
    conn = session.conn
    file = migration.file
    throwaway = session.throwaway
    started = time.perf_counter()
    session.begin()
    gate = session.gate
    if throwaway:
        # nobody else opens a throwaway database (its lock is exclusive): no other connection
        # has committed since the gate last looked for triggers (its PRAGMA data_version holds)
        gate.version_now = gate.looked_at
    try:
        # on a throwaway database (nobody else writes to it) the check comes after a
        # failure instead (the unique identity index refuses a second row); on another, the
        # table is asked unless the gate is certain (one query less per migration, each
        # re-prepared after the DDL before it)
        if (
            not throwaway
            and not _certainly_unapplied(session, entry)
            and bookkeeping.is_applied(conn, entry.track, entry.version)
        ):
            session.rollback_quietly()
            return Outcome(migration, "skipped", 0, 0.0)
        marked = take_over_marks(session, [entry]) if resume else {}
        rows = run_file(session, file)
        seconds = record_applied(
            session,
            file,
            entry,
            started,
            rows,
            enforced=enforced,
            marks=marked.values(),
            log=not throwaway,
            # the gate looked for triggers on the runner's tables in this transaction (and
            # screened every statement since that could make one)
            read_back=session.gate.triggers is not False,
        )
        session.commit(file)
        if gate.unapplied is not None:
            gate.unapplied.applied(conn, entry.track, entry.version)
    except MigrationFailed as failure:
        session.rollback_quietly()
        if _applied_already(session, entry):
            return Outcome(migration, "skipped", 0, 0.0)
        session.log_failure(entry, failure)
        raise
    except BaseException as error:
        session.rollback_quietly()
        if isinstance(error, sqlite3.IntegrityError) and _applied_already(session, entry):
            return Outcome(migration, "skipped", 0, 0.0)
        raise
    finally:
        gate.version_now = None  # read in this transaction only
    return Outcome(migration, "applied", rows, seconds)


def _certainly_unapplied(session: Session, entry: Entry) -> bool:
    """In the migration's write transaction: whether it is certainly not applied yet without
    asking the table (ci.db.unapplied; only a run's own pending list can say so)."""
    gate = session.gate
    now = gate.data_version()  # also spares look_for_triggers its own read
    return gate.unapplied is not None and gate.unapplied.certain(
        session.conn, now, entry.track, entry.version
    )


def _applied_already(session: Session, entry: Entry) -> bool:
    """After a failed apply on a throwaway database: whether it failed because the
    migration was applied already (it is then skipped, as the check before would have)."""
    return session.throwaway and bookkeeping.is_applied(session.conn, entry.track, entry.version)


def apply_autocommit(
    session: Session, migration: Migration, entry: Entry, *, resume: bool = False
) -> Outcome:
    """@no-transaction: a dirty mark, each statement on its own, then the row and clear.

    `resume`: a dirty mark left by a process that has stopped may be taken over."""
    conn = session.conn
    file = migration.file
    started = time.perf_counter()
    with session.guard():
        mark = open_or_reuse_mark(session, entry, resume=resume)
        if mark is None:
            return Outcome(migration, "skipped", 0, 0.0)
        session.stopped_at = None
        what_ran = partial(_statements_ran, session, file)
        again = "it runs the migration again from its first statement"
        before = conn.total_changes
        with says_dirty_if_stopped(session, migration, what_ran, again):
            try:
                with session.foreign_keys(leading_foreign_keys(file)) as enforced:
                    rows = run_file(session, file)
            except MigrationFailed as failure:
                # each statement before the failing one committed on its own; a failed
                # statement's own changes are undone by SQLite and not counted
                done = conn.total_changes - before
                committed = committed_before(file, failure.line)
                fail_mark(session, mark, entry, failure, rows=done, committed=committed)
                raise
            session.begin()
            try:
                seconds = record_applied(
                    session,
                    file,
                    entry,
                    started,
                    rows,
                    enforced=enforced,
                    marks=(mark.id,),
                    log=True,
                )
                session.commit(file)
            except MigrationFailed as failure:
                session.rollback_quietly()
                committed = "all its statements stay committed"
                fail_mark(session, mark, entry, failure, rows=rows, committed=committed)
                raise
            except BaseException:
                session.rollback_quietly()
                raise
    return Outcome(migration, "applied", rows, seconds)


def _statements_ran(session: Session, file: SqlFile) -> str:
    """After an error about the database file in a @no-transaction migration."""
    stopped = session.stopped_at
    if stopped is None:
        return "all its statements ran and stay committed, but it is not recorded as applied"
    return (
        f"the statements before {file.location}:{stopped.line} ran and stay committed, "
        "that one and the rest did not"
    )
