"""Several migrations and their `schema_version` rows in ONE PostgreSQL transaction: the grouped
deploy (`ci.migrate --database-url ... --group`) and the dry run (ci.db.postgres.dryrun), which
is the same transaction ended by ROLLBACK instead of COMMIT.

Where the parts come from is the SQLite runner's (ci.db.group.split and run_parts: a
`@no-transaction` migration commits as it goes, so it is a part of its own and runs as without
--group; seeds are a group of their own), and so are the wording and the `group rolled back`
log row. PostgreSQL's own cut: a migration that adds an enum label ends its group, since no
statement may use the label before the transaction that added it commits (55P04; see
ci.db.postgres.enum_labels), and the plain run commits after that migration. What else is
PostgreSQL's: the transaction, and each member run as it would run alone in a transaction of
its own:

- its statements through the gate with its own --statement-timeout deadline, the runner's lock
  checked and the runner's tables compared after it (ci.db.postgres.steps);
- its deferred constraints checked when it ends (SET CONSTRAINTS ALL IMMEDIATE, as its own
  COMMIT would: a violation is named on its file, `at commit: ...`), then put back to
  deferred for the next member;
- the session put back as the run started before the next member (ci.db.postgres.session:
  temp tables, settings, prepared statements, other advisory locks), and the run's SET LOCAL
  limits set again.

A failure anywhere rolls the whole group back; the log then gets, in a transaction of its own,
the `failed` row of the member that failed and a `group rolled back` row naming every member.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Protocol

import psycopg

from ci.core.model import Migration
from ci.db.group import GROUP_ROLLED_BACK, rolled_back_row, rolled_back_whole, run_parts, split
from ci.db.outcomes import MigrationFailed, Outcome, RunRefused
from ci.db.postgres import session
from ci.db.postgres.bookkeeping import NotWritten
from ci.db.postgres.connect import one_line
from ci.db.postgres.enum_labels import adds_enum_label
from ci.db.postgres.execute import run_file
from ci.db.postgres.steps import PgRunner as StepRunner
from ci.db.postgres.steps import (
    file_problems,
    finish,  # a member's row, as a lone migration's
    rollback_quietly,
    set_limits,
    transaction,
)
from ci.db.records import Entry

OnOutcome = Callable[[Outcome], None]
OnGroup = Callable[[list[Outcome], float], None]

# The constraints that start deferred: put back after a member's own check made all immediate.
# SET CONSTRAINTS names a constraint by schema and name and acts on EVERY constraint of that
# name in the schema (two tables each with an `fk_owner` is ordinary): a name shared with one
# that does not start deferred is left out, since deferring it would defer that one too (or
# fail, when it is NOT DEFERRABLE). Those stay immediate for the rest of the group: stricter
# than alone, never laxer (a check then runs the group again one migration per transaction).
DEFERRED = """SELECT quote_ident(n.nspname) || '.' || quote_ident(c.conname) AS name
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
  WHERE (c.connamespace, c.conname) IN (SELECT connamespace, conname FROM pg_constraint
                                        WHERE condeferred)
  GROUP BY n.nspname, c.conname HAVING bool_and(c.condeferred)"""


class PgRunner(StepRunner, Protocol):
    """What a group asks of ci.db.postgres.runner.PgRunner (named here: the runner imports
    this module)."""

    def apply(self, migration: Migration, *, resume: bool = False) -> Outcome: ...

    def warn_if_slow(self, outcome: Outcome) -> None: ...


def migrate_grouped(
    runner: PgRunner,
    pending: list[Migration],
    *,
    resume: bool,
    on_outcome: OnOutcome | None,
    on_group: OnGroup | None,
) -> list[Outcome]:
    """Apply `pending` in as few transactions as their directives allow."""

    def together(part: list[Migration]) -> list[Outcome]:
        return apply_group(runner, part, resume=resume)

    parts = split(pending, None, adds_enum_label)
    return run_parts(runner, parts, together, resume, on_outcome, on_group)


def apply_group(runner: PgRunner, members: list[Migration], *, resume: bool) -> list[Outcome]:
    """The members and their rows in one transaction: all applied, or none (and raised)."""
    running = [members[0]]  # the member running when something stopped it

    def interrupted(where: str) -> None:
        log_rolled_back(runner, None, where, members)

    with rolled_back_whole(members, running, runner.notice, interrupted):
        return in_one_transaction(runner, members, running, resume=resume, commit=True)


def in_one_transaction(
    runner: PgRunner,
    members: list[Migration],
    running: list[Migration],
    *,
    resume: bool = False,
    commit: bool,
    on_outcome: OnOutcome | None = None,
) -> list[Outcome]:
    """BEGIN, each member, then COMMIT (`commit`) or ROLLBACK (a dry run). A member's failure
    rolls back all of them and, when committing, is logged (see log_rolled_back)."""
    conn = runner.conn
    outcomes: list[Outcome] = []
    entries = [runner.entry(m) for m in members]
    try:
        with transaction(runner, limits=True):
            if runner.tables.state(conn) == "missing":  # a dry run on a new database
                runner.tables.create(conn)
            for migration, entry in zip(members, entries, strict=True):
                running[0] = migration
                outcomes.append(_member(runner, migration, entry, resume=resume))
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
            if not commit:
                raise _Rehearsed
    except _Rehearsed:
        return outcomes
    except MigrationFailed as failure:
        if commit:
            failed = entries[members.index(running[0])]
            log_rolled_back(runner, failed, f"failed: {failure}", members)
        raise
    return outcomes


class _Rehearsed(Exception):
    """The dry run's end: every member ran; the transaction rolls back."""


def _member(runner: PgRunner, migration: Migration, entry: Entry, *, resume: bool) -> Outcome:
    """One migration inside the open transaction, as it would run in one of its own."""
    conn, file = runner.conn, migration.file
    problems = file_problems(migration)
    if problems:
        raise RunRefused(problems[0])
    if runner.tables.is_applied(conn, entry.track, entry.version):
        return Outcome(migration, "skipped", 0, 0.0)
    if migration.track == "seed":
        runner.no_seeds_recorded = False
    marks = [m.id for m in runner.tables.open_marks(conn)
             if (m.track, m.version) == (entry.track, entry.version)] if resume else []  # fmt: skip
    started = time.perf_counter()
    before = runner.tables.snapshot(conn)
    rows = run_file(conn, file, notice=runner.notice, timeout=runner.statement_timeout)
    try:  # the lock, its deferred checks, the runner's tables, its row: as a lone migration's
        seconds = finish(
            runner, entry, file.path, (started, rows), marks, before, lock_where=file.location
        )
    except psycopg.Error as error:  # what its own COMMIT would have refused
        if conn.closed or conn.broken:
            raise
        raise MigrationFailed(file.path, None, f"at commit: {one_line(error)}") from None
    fresh_for_next(runner)
    return Outcome(migration, "applied", rows, seconds)


def fresh_for_next(runner: PgRunner) -> None:
    """Inside the transaction: the session as the run started, the run's limits again, and
    the constraints that start deferred deferred again."""
    conn = runner.conn
    session.reset(conn)
    set_limits(runner, local=True)
    names = [str(row[0]) for row in conn.execute(DEFERRED).fetchall()]
    if names:
        conn.execute(f"SET CONSTRAINTS {', '.join(names)} DEFERRED")


def log_rolled_back(
    runner: PgRunner, failed: Entry | None, why: str, members: list[Migration]
) -> None:
    """After the rollback, in a transaction of its own (best effort, as every failure row):
    the failing member's 'failed' row (None after Ctrl-C) and the group's 'group rolled back'
    row (ci.db.group.rolled_back_row)."""
    group, held = rolled_back_row(members, why)
    rollback_quietly(runner)
    # apart: a log table of the user's that refuses the new action (a CHECK of its own) still
    # keeps the failure
    if failed is not None:
        error = why.removeprefix("failed: ")
        with suppress(psycopg.Error, NotWritten), transaction(runner):
            runner.tables.log_attempt(runner.conn, "failed", failed, error=error)
    with suppress(psycopg.Error, NotWritten), transaction(runner):
        runner.tables.log_attempt(runner.conn, GROUP_ROLLED_BACK, group, error=held)
