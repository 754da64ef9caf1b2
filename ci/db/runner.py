"""The migration runner: apply and roll back the migrations of one catalog on one connection.

Every migration runs in ONE transaction together with its `schema_version` row, started with
`BEGIN IMMEDIATE` so two runners serialise, and re-checks inside it whether the migration was
applied meanwhile. Statements come from `SqlFile.statements` and run one by one with
`Connection.execute` (never `executescript`, which commits on its own). `@no-transaction` and
`@batch` migrations commit as they go and leave a dirty mark until they finish.

`Runner` coordinates; each concern has its module: ci.db.plan (what is pending, refusals),
ci.db.drift (applied files edited since), ci.db.prepare (the runner's own tables), ci.db.apply,
ci.db.batch, ci.db.rollback, ci.db.dryrun, ci.db.marks and ci.db.dirty (dirty marks), and
ci.db.session (the connection they all work through). Connections come from ci.db.connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path

from ci.core.model import Catalog, Migration
from ci.db import bookkeeping, drift, plan
from ci.db.bookkeeping import AppliedRow, DirtyMark, Entry, head_version
from ci.db.changes import Mark, change_mark
from ci.db.connection import (
    connect,
    connect_for_reading,
    explain,
    is_environmental,
    load_setup,
    reading,
)
from ci.db.deadline import time_limited
from ci.db.dirty import dirty_message
from ci.db.marks import refuse_unless_holder_gone
from ci.db.outcomes import CannotRun, MigrationFailed, Outcome, Runaway, RunRefused
from ci.db.session import Session

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

    from ci.db.unapplied import Unapplied

__all__ = [
    "AppliedRow",
    "CannotRun",
    "DirtyMark",
    "MigrationFailed",
    "Outcome",
    "RunRefused",
    "Runaway",
    "Runner",
    "connect",
    "connect_for_reading",
    "dirty_message",
    "entry_for",
    "explain",
    "is_environmental",
    "load_setup",
    "reading",
    "time_limited",
]

entry_for = plan.entry_for
OnOutcome = Callable[[Outcome], None]
OnGroup = Callable[[list[Outcome], float], None]  # a group that committed, and its seconds
Plan = list[Migration]  # rollback steps, newest first
# a preflight that passed: its arguments, the database's change mark taken before it read
# anything, and its pending list
Checked = tuple[int | None, bool, Mark, list[Migration]]


class Runner:
    """Apply and roll back the migrations of one catalog on one connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        catalog: Catalog,
        *,
        out: TextIO | None = None,
        warn_slow: float = 300.0,
        allow_changed: bool = False,
        progress_interval: float = 5.0,
        throwaway: bool = False,
        statement_timeout: float | None = None,
    ) -> None:
        self.conn = conn
        self.session = Session(
            conn, out=out, throwaway=throwaway, statement_timeout=statement_timeout
        )
        self.catalog = catalog
        self.warn_slow = warn_slow
        self.allow_changed = allow_changed
        self.progress_interval = progress_interval
        self._ready = False
        self._warned: set[str] = set()
        self._checked: Checked | None = None  # the last preflight that passed (_checked_plan)

    # --- what the database says -----------------------------------------------------------

    def entry(self, migration: Migration) -> Entry:
        """What this runner records for the migration (see ci.db.plan.entry_for)."""
        return plan.entry_for(migration, with_code_hash=not self.session.throwaway)

    def ensure_bookkeeping(self) -> str:
        """Create or upgrade schema_version / schema_version_log ('none'/'created'/'upgraded')."""
        if self._ready:
            return "none"
        with self.session.guard():
            current = bookkeeping.state(self.conn) == "current"
        done = "none"
        if not current:
            from ci.db.prepare import prepare_tables  # a new or older database only

            kinds = {m.version: m.kind for m in self.catalog.main}
            done = prepare_tables(self.session, kinds)
        self._ready = True
        return done

    def applied(self) -> list[AppliedRow]:
        with self.session.guard():
            return self.session.applied_rows.read(self.conn)

    def dirty(self) -> list[DirtyMark]:
        with self.session.guard():
            return bookkeeping.open_marks(self.conn)

    def pending(
        self, target: int | None = None, *, applied: list[AppliedRow] | None = None
    ) -> list[Migration]:
        """Main-track migrations not applied (up to target), then seeds if the run ends at head."""
        rows = self.applied() if applied is None else applied
        return plan.pending(self.catalog, rows, target)

    def current_version(self) -> int:
        return head_version(self.applied())

    def edited(self) -> list[tuple[Migration, str]]:
        """(migration, the line refusing it): applied files edited, or numbers reused."""
        return drift.edited(self.catalog, self.applied(), self.session.hashes)

    # --- checks before anything changes ---------------------------------------------------

    def preflight(self, target: int | None = None, *, resume: bool = False) -> list[Migration]:
        """Everything that must hold before the first change; returns the pending list.

        Raises RunRefused naming every problem at once: duplicate numbers, edited applied
        files, dirty marks (unless resuming), out-of-order pending files, unusable files.
        """
        self.session.foreign_keys_on = None  # read once per run: the caller may have changed it
        # the change mark before any read: what moves after it is seen by _checked_plan
        self._checked, before = None, change_mark(self.conn)
        problems = self.catalog.duplicate_numbers()
        problems += self.edited_problems()
        problems += _mark_problems(self.dirty(), self.session.db_name(), resume=resume)
        applied = self.applied()  # one snapshot: another runner may be applying meanwhile
        for line in plan.missing_files(self.catalog, applied):
            self._warn_once(line, line)
        pending = plan.pending(self.catalog, applied, target)
        problems += plan.out_of_order(pending, head_version(applied))
        plan.read_files_ahead(pending, with_code_hash=not self.session.throwaway)
        problems += [p for m in pending for p in plan.file_problems(m.file, m)]
        if problems:
            raise RunRefused("\n".join(problems))
        self._checked = None if before is None else (target, resume, before, pending)
        return pending

    def edited_problems(self) -> list[str]:
        """Applied files whose bytes changed; warnings only with allow_changed."""
        lines = drift.edited_lines(self.edited())
        if lines and self.allow_changed:
            for line in lines:  # preflight may run twice in one run: each said once
                self._warn_once(line, f"WARNING: --allow-changed: {line}")
            return []
        return lines

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.session.notice(message)

    # --- apply / rollback -----------------------------------------------------------------

    def migrate(
        self,
        target: int | None = None,
        *,
        resume: bool = False,
        on_outcome: OnOutcome | None = None,
        group: bool = False,
        on_group: OnGroup | None = None,
    ) -> list[Outcome]:
        """Apply what is pending (main track up to target, then seeds when at head).

        Stops at the first failure (MigrationFailed); what was applied before it stays applied.
        `group`: as few transactions as the migrations allow (ci.db.group); `on_group` is told
        each group that committed, with its time.
        """
        pending, data_version = _checked_plan(self, target, resume)
        self.ensure_bookkeeping()
        if resume:
            pending = plan.resume_first(self.catalog, self.dirty(), pending)
        if group:
            from ci.db.group import migrate_grouped  # only --group needs it (start-up time)

            return migrate_grouped(self, pending, resume, on_outcome, on_group)
        self.session.gate.unapplied = _unapplied(self.conn, pending, data_version)
        return _each(pending, lambda m: self.apply(m, resume=resume), on_outcome)

    def apply(self, migration: Migration, *, resume: bool = False) -> Outcome:
        """Apply one migration atomically with its schema_version row (or as its directives say).

        `resume`: a dirty mark left by a process that has stopped may be taken over."""
        plan.check_file(migration.file, migration)
        self.ensure_bookkeeping()
        session = self.session
        if migration.track == "seed":
            session.no_seeds_recorded = False
        session.clock.start()
        entry = self.entry(migration)
        directives = migration.directives
        if directives.batch is not None:
            from ci.db.batch import apply_batch  # @batch is rare: not on every run's start-up

            outcome = apply_batch(
                session, migration, entry, resume=resume, progress_interval=self.progress_interval
            )
        else:
            # here, not at the top: a run with nothing to apply never loads it (start-up time)
            from ci.db.apply import apply_autocommit, apply_in_transaction

            apply = apply_autocommit if directives.no_transaction else apply_in_transaction
            outcome = apply(session, migration, entry, resume=resume)
        self.warn_if_slow(outcome)
        return outcome

    def rollback(self, migration: Migration, *, planned: bool = False) -> Outcome:
        """Run the migration's rollback file and remove its row, in one transaction."""
        return _roll_back_one(self, migration, planned=planned)

    def rollback_plan(self, version: int) -> list[Migration]:
        """What a rollback down to `version` undoes, or RunRefused (see ci.db.rollback)."""
        from ci.db.rollback import rollback_plan

        return rollback_plan(self.catalog, self.applied(), version)

    def rollback_to(
        self, version: int, *, on_outcome: OnOutcome | None = None, plan: Plan | None = None
    ) -> list[Outcome]:
        """Undo `plan` (the one the caller printed; by default every applied main-track migration
        >= version), newest first, each atomically (see rollback_in_transaction)."""
        from ci.db.rollback import refuse_unsafe_rollback

        self.session.foreign_keys_on = None  # read once per run: the caller may have changed it
        refuse_unsafe_rollback(self.edited_problems(), self.dirty())
        steps = self.rollback_plan(version) if plan is None else plan
        return _each(steps, lambda m: self.rollback(m, planned=True), on_outcome)

    # --- dry run and dirty marks ----------------------------------------------------------

    def dry_run(
        self,
        target: int | None = None,
        *,
        rollback_to: int | None = None,
        on_outcome: OnOutcome | None = None,
        setup: str | None = None,
        rollback_plan: Plan | None = None,
        group: bool = False,
        on_group: OnGroup | None = None,
    ) -> tuple[list[Outcome], MigrationFailed | None]:
        """Run the plan for real on a private copy of the database (ci.db.dryrun); nothing here
        changes. Returns the outcomes ('would apply' / 'would roll back') and the first failure
        (after which nothing more is tried)."""
        from ci.db.dryrun import rehearse  # only a dry run needs it (start-up time)

        return rehearse(
            self.conn,
            self.session.db_name(),
            partial(_twin, self),
            target=target,
            rollback_to=rollback_to,
            rollback_plan=rollback_plan,
            on_outcome=on_outcome,
            setup=setup,
            timeout=self.session.busy_timeout() or 30.0,
            group=group,
            on_group=on_group,
        )

    def force_clean(self) -> list[DirtyMark]:
        """Clear every open dirty mark (the migrations stay not applied); returns them."""
        from ci.db.marks import force_clean

        return force_clean(self.session)

    # --- the session, for the checks and the command ------------------------------------------

    def start_clock(self) -> None:
        """A migration starts: with --statement-timeout, its deadline is set from now."""
        self.session.clock.start()

    def limited(self, path: Path | str, line: int | None) -> AbstractContextManager[None]:
        """The user's SQL run besides a migration's statements, under its deadline
        (ci.db.deadline.Clock.limited)."""
        return self.session.clock.limited(path, line)

    def warn_if_slow(self, outcome: Outcome) -> None:
        if outcome.action == "applied" and outcome.seconds > self.warn_slow:
            self.session.notice(
                f"warning: {outcome.migration.label} {outcome.migration.path} took "
                f"{outcome.seconds:.1f} s (more than --warn-slow {self.warn_slow:g} s)"
            )


def _each(
    migrations: list[Migration], step: Callable[[Migration], Outcome], on_outcome: OnOutcome | None
) -> list[Outcome]:
    """`step` each migration in turn, telling `on_outcome` as each ends."""
    outcomes: list[Outcome] = []
    for migration in migrations:
        outcome = step(migration)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _roll_back_one(runner: Runner, migration: Migration, *, planned: bool) -> Outcome:
    # the rollback modules load only when a rollback runs (start-up time of every deploy)
    from ci.db.apply import guarded
    from ci.db.rollback import rollback_file, rollback_in_transaction

    file = rollback_file(migration)
    plan.check_file(file, None)
    runner.ensure_bookkeeping()
    runner.session.clock.start()
    entry = runner.entry(migration)
    return guarded(
        runner.session,
        file,
        lambda on: rollback_in_transaction(runner.session, migration, file, entry, on, planned),
    )


def _mark_problems(marks: list[DirtyMark], db: str, *, resume: bool) -> list[str]:
    """Open dirty marks refuse a run that does not resume them. An early answer only: the
    decision that counts is taken again in the write lock (ci.db.marks.open_or_reuse_mark),
    since the holder may change meanwhile."""
    for mark in marks:
        refuse_unless_holder_gone(mark, db)
    return [] if resume else [dirty_message(mark) for mark in marks]


def _checked_plan(
    runner: Runner, target: int | None, resume: bool
) -> tuple[list[Migration], int | None]:
    """The pending list: the runner's last preflight's, if it ran with these arguments (the
    command's, for its plan line) and the database has not changed since it began reading (no
    commit by another connection: PRAGMA data_version; no change by this one; the same schema),
    when a second preflight would read and decide exactly the same; else a new preflight's.
    A preflight's list is used once. Either way each migration still asks, in its write lock,
    whether it was applied meanwhile (ci.db.apply). Also returns the PRAGMA data_version taken
    before that preflight read anything (None: unknown)."""
    checked, runner._checked = runner._checked, None
    if checked is None or checked[:2] != (target, resume) or change_mark(runner.conn) != checked[2]:
        pending = runner.preflight(target, resume=resume)
        checked, runner._checked = runner._checked, None
    else:
        runner.session.foreign_keys_on = None  # as preflight: read once per run
        pending = checked[3]
    # the data_version before the preflight read the applied rows (see ci.db.unapplied)
    return pending, None if checked is None else checked[2][0]


def _unapplied(
    conn: sqlite3.Connection, pending: list[Migration], data_version: int | None
) -> Unapplied | None:
    """What lets the run's migrations skip asking whether they were applied meanwhile."""
    from ci.db.unapplied import Unapplied  # a migration runs: not on a no-op run's start-up

    return None if data_version is None else Unapplied(conn, pending, data_version)


def _twin(runner: Runner, conn: sqlite3.Connection) -> Runner:
    """A runner with this one's settings on another connection (the dry run's copy)."""
    return Runner(
        conn,
        runner.catalog,
        out=runner.session.out,
        warn_slow=runner.warn_slow,
        allow_changed=runner.allow_changed,
        progress_interval=runner.progress_interval,
        throwaway=runner.session.throwaway,
        statement_timeout=runner.session.clock.seconds,
    )
