"""The migration runner on PostgreSQL: the SQLite Runner's promises and public methods, on one
psycopg connection in autocommit (the runner issues BEGIN and COMMIT itself).

Every migration runs in ONE transaction together with its `schema_version` row (PostgreSQL's DDL
is transactional) and asks inside it, first, whether it was applied meanwhile. A session
advisory lock (ci.db.postgres.execute.take_lock), taken by the command before it reads the
plan, makes two runners take turns. `@no-transaction` migrations (CREATE INDEX CONCURRENTLY)
run statement by statement under a dirty mark, as on SQLite, and `@batch` ones batch by batch
under one (ci.db.postgres.batch). `lock_timeout` and
`statement_timeout` are set with SET LOCAL in each migration's transaction; --statement-timeout
is also a deadline for the whole migration that the runner keeps itself
(ci.db.postgres.deadline). After every step the session is put back as the run started
(ci.db.postgres.session), and a step whose migration released the runner's lock stops the run.

What does not depend on the engine is the SQLite runner's: ci.db.plan (what is pending, the
refusals), ci.db.drift (edited applied files), ci.db.rollback (the rollback plan), ci.db.dirty
(what an open mark tells the user), ci.db.outcomes. The steps themselves are
ci.db.postgres.steps and ci.db.postgres.rollback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TextIO

import psycopg

from ci.core.model import Catalog, InputError, Migration
from ci.db import drift, plan
from ci.db.bookkeeping import head_version
from ci.db.dirty import dirty_message
from ci.db.outcomes import Outcome, RunRefused
from ci.db.postgres import rollback as undo
from ci.db.postgres import session, steps
from ci.db.postgres.bookkeeping import Tables
from ci.db.postgres.connect import PgConnection
from ci.db.postgres.execute import said_line, take_lock
from ci.db.records import AppliedRow, DirtyMark, Entry
from ci.db.rollback import refuse_unsafe_rollback, rollback_file, rollback_plan

OnOutcome = Callable[[Outcome], None]
# what a migration's SQL has the server say that a deploy shows (RAISE NOTICE, WARNING, INFO;
# a DROP ... IF EXISTS that found nothing); DEBUG and LOG are the server's own chatter
SHOWN_SEVERITIES = frozenset({"NOTICE", "WARNING", "INFO"})


def _printable(text: str | None) -> str:
    """One line, without control characters (a terminal would act on an escape sequence)."""
    folded = " ".join((text or "").split())
    return "".join(char if char.isprintable() else "?" for char in folded)


class PgRunner:
    """Apply and roll back the migrations of one catalog on one PostgreSQL connection."""

    def __init__(
        self,
        conn: PgConnection,
        catalog: Catalog,
        *,
        out: TextIO | None = None,
        throwaway: bool = False,
        statement_timeout: float | None = None,
        lock_timeout: float | None = None,
        allow_changed: bool = False,
        warn_slow: float = 300.0,
        progress_interval: float = 5.0,
    ) -> None:
        self.conn = conn
        self.catalog = catalog
        self.out = out if out is not None else sys.stderr
        self.throwaway = throwaway
        conn.throwaway = throwaway  # the gate of every file run on it (execute.run_file)
        self.statement_timeout = statement_timeout
        self.lock_timeout = lock_timeout
        self.allow_changed = allow_changed
        self.warn_slow = warn_slow
        self.progress_interval = progress_interval  # seconds between a @batch's progress lines
        # the server prepares nothing for the runner: the session reset's DEALLOCATE ALL
        # would drop what the driver prepared behind its back
        conn.prepare_threshold = None
        self.tables = Tables(conn)
        self.no_seeds_recorded = False
        self.locked = False  # the session's migration lock taken (`lock`): checked after each step
        self._ready = False
        self._warned: set[str] = set()
        if not throwaway:  # a deploy shows what its SQL says (RAISE NOTICE 'backfilled 42 rows'),
            conn.add_notice_handler(self._server_notice)  # as psql does; a check's report not

    def _server_notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        """What the server said while a migration's own SQL ran (not the runner's statements,
        not DEBUG or LOG a file may ask for), as psql says it: the message, its DETAIL and HINT,
        on one line naming the file and line."""
        severity = diagnostic.severity_nonlocalized or diagnostic.severity or ""
        running = self.conn.running
        if running is None or severity not in SHOWN_SEVERITIES:
            return
        said = _printable(diagnostic.message_primary)
        if diagnostic.message_detail:
            said += f" (detail: {_printable(diagnostic.message_detail)})"
        if diagnostic.message_hint:
            said += f" (hint: {_printable(diagnostic.message_hint)})"
        file, statement = running
        where = file.location if statement is None else (
            f"{file.location}:{said_line(diagnostic, file, statement)}")  # fmt: skip
        self.notice(f"{where}: {severity}: {said}")

    def notice(self, message: str) -> None:
        print(message, file=self.out)

    def lock(self, *, timeout: float, where: str) -> None:
        """Hold the database's migration lock for the rest of the session (see take_lock)."""
        take_lock(self.conn, timeout=timeout, where=where)
        self.locked = True

    # --- what the database says -----------------------------------------------------------

    def entry(self, migration: Migration) -> Entry:
        return plan.entry_for(migration, with_code_hash=not self.throwaway, engine="postgresql")

    def ensure_bookkeeping(self) -> str:
        """Create schema_version / schema_version_log when missing ('none'/'created')."""
        if self._ready:
            return "none"
        state = self.tables.state(self.conn)
        if state == "foreign":
            raise InputError(self.tables.foreign(self.conn))
        done = "none"
        if state == "missing":
            with steps.transaction(self):
                self.tables.create(self.conn)
            done = "created"
        self._ready = True
        return done

    def applied(self) -> list[AppliedRow]:
        return self.tables.read_applied(self.conn)

    def dirty(self) -> list[DirtyMark]:
        return list(self.tables.open_marks(self.conn))

    def pending(
        self, target: int | None = None, *, applied: list[AppliedRow] | None = None
    ) -> list[Migration]:
        rows = self.applied() if applied is None else applied
        return plan.pending(self.catalog, rows, target)

    def current_version(self) -> int:
        return head_version(self.applied())

    def edited(self) -> list[tuple[Migration, str]]:
        """(migration, the line refusing it): applied files edited, or numbers reused."""
        return drift.edited(self.catalog, self.applied(), engine="postgresql")

    def edited_problems(self) -> list[str]:
        lines = drift.edited_lines(self.edited())
        if lines and self.allow_changed:
            for line in lines:
                self._warn_once(line, f"WARNING: --allow-changed: {line}")
            return []
        return lines

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.notice(message)

    # --- checks before anything changes ---------------------------------------------------

    def preflight(self, target: int | None = None, *, resume: bool = False) -> list[Migration]:
        """Everything that must hold before the first change; returns the pending list.
        RunRefused names every problem at once (as the SQLite runner's preflight)."""
        if self.tables.state(self.conn) == "foreign":
            raise InputError(self.tables.foreign(self.conn))
        problems = self.catalog.duplicate_numbers()
        problems += self.edited_problems()
        if not resume:
            problems += [dirty_message(mark) for mark in self.dirty()]
        applied = self.applied()
        for line in plan.missing_files(self.catalog, applied):
            self._warn_once(line, line)
        pending = plan.pending(self.catalog, applied, target)
        problems += plan.out_of_order(pending, head_version(applied))
        problems += [p for m in pending for p in steps.file_problems(m)]
        if problems:
            raise RunRefused("\n".join(problems))
        return pending

    # --- apply / rollback -----------------------------------------------------------------

    def migrate(
        self,
        target: int | None = None,
        *,
        resume: bool = False,
        on_outcome: OnOutcome | None = None,
        group: bool = False,
        on_group: Callable[[list[Outcome], float], None] | None = None,
    ) -> list[Outcome]:
        """Apply what is pending; stops at the first failure (MigrationFailed). `group`: in
        as few transactions as the migrations allow (ci.db.postgres.group)."""
        pending = self.preflight(target, resume=resume)
        self.ensure_bookkeeping()
        if resume:
            pending = plan.resume_first(self.catalog, self.dirty(), pending)
        if group:
            from ci.db.postgres.group import migrate_grouped  # --group only

            return migrate_grouped(
                self, pending, resume=resume, on_outcome=on_outcome, on_group=on_group
            )
        return _each(pending, lambda m: self.apply(m, resume=resume), on_outcome)

    def apply(self, migration: Migration, *, resume: bool = False) -> Outcome:
        """Apply one migration atomically with its row (or under a dirty mark)."""
        problems = steps.file_problems(migration)
        if problems:
            raise RunRefused(problems[0])
        self.ensure_bookkeeping()
        if migration.track == "seed":
            self.no_seeds_recorded = False
        with self._fresh_session_after():
            if migration.directives.batch is not None:
                from ci.db.postgres.batch import apply_batch  # @batch is rare: not at start-up

                outcome = apply_batch(self, migration, resume=resume)
            elif migration.directives.no_transaction:
                outcome = steps.apply_autocommit(self, migration, resume=resume)
            else:
                outcome = steps.apply_in_transaction(self, migration, resume=resume)
        self.warn_if_slow(outcome)
        return outcome

    def warn_if_slow(self, outcome: Outcome) -> None:
        if outcome.action == "applied" and outcome.seconds > self.warn_slow:
            migration = outcome.migration
            self.notice(
                f"warning: {migration.label} {migration.path} took {outcome.seconds:.1f} s "
                f"(more than --warn-slow {self.warn_slow:g} s)"
            )

    def rollback(self, migration: Migration, *, planned: bool = False) -> Outcome:
        """Run the migration's rollback file and remove its row, in one transaction."""
        file = rollback_file(migration)
        self.ensure_bookkeeping()
        with self._fresh_session_after():
            return undo.rollback_in_transaction(self, migration, file, planned=planned)

    @contextmanager
    def _fresh_session_after(self) -> Iterator[None]:
        """After the step, failed or not, the session is as the run started: nothing a
        migration left in it (a temp table, a setting, a prepared statement, a lock) reaches
        the next one (ci.db.postgres.session). Its own error wins over the step's."""
        try:
            yield
        except BaseException:
            with suppress(psycopg.Error):
                self._reset_session()
            raise
        self._reset_session()

    def _reset_session(self) -> None:
        if not (self.conn.closed or self.conn.broken):
            steps.rollback_quietly(self)
            session.reset(self.conn)

    def rollback_plan(self, version: int) -> list[Migration]:
        return rollback_plan(self.catalog, self.applied(), version)

    def rollback_to(
        self,
        version: int,
        *,
        on_outcome: OnOutcome | None = None,
        plan: list[Migration] | None = None,
    ) -> list[Outcome]:
        refuse_unsafe_rollback(self.edited_problems(), self.dirty())
        todo = self.rollback_plan(version) if plan is None else plan
        return _each(todo, lambda m: self.rollback(m, planned=True), on_outcome)

    def force_clean(self) -> list[DirtyMark]:
        """Clear every open dirty mark (the migrations stay not applied); returns them."""
        self.ensure_bookkeeping()
        return undo.force_clean(self)


def _each(
    migrations: list[Migration], step: Callable[[Migration], Outcome], on_outcome: OnOutcome | None
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for migration in migrations:
        outcome = step(migration)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
