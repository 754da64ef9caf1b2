"""What `python -m ci.migrate --database-url postgresql://...` does: apply, roll back,
force-clean, or show the status, printing the same lines as on SQLite (ci.db.deploy's printer,
ci.reports.status) with the database named by its URL without the password.

Each operation opens the database, takes the runner's advisory lock (waiting up to
--busy-timeout for another runner) before it reads the plan, and returns whether it found or
caused a problem. A server error outside a migration's statements (the connection lost, a
permission missing on the runner's tables) is CannotRun: one line, exit 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import psycopg

from ci.core.model import Catalog, Migration
from ci.db.deploy import database_at, migrate_and_report, printer, undo
from ci.db.deploy_shared import dry_plan, dry_verdict, show_dry_plan
from ci.db.dirty import dirty_message
from ci.db.drift import hash_state
from ci.db.outcomes import CannotRun, MigrationFailed, Outcome
from ci.db.postgres.connect import label, one_line, open_target
from ci.db.postgres.execute import lock_is_free
from ci.db.postgres.runner import PgRunner
from ci.db.records import DirtyMark
from ci.db.runlog import RunLog
from ci.db.status import Status

OnOutcome = Callable[[Outcome], None]
# a rehearsal's outcomes, its first failure, and a line for each step it could not rehearse
Rehearsal = tuple[list[Outcome], MigrationFailed | None, list[str]]


class Options:
    """What shapes a change: the command line's values the PostgreSQL runner takes."""

    def __init__(
        self,
        *,
        busy_timeout: float = 30.0,
        statement_timeout: float | None = None,
        lock_timeout: float | None = None,
        allow_changed: bool = False,
        warn_slow: float = 300.0,
    ) -> None:
        self.busy_timeout = busy_timeout
        self.statement_timeout = statement_timeout
        self.lock_timeout = lock_timeout
        self.allow_changed = allow_changed
        self.warn_slow = warn_slow


@contextmanager
def opened(url: str, catalog: Catalog, options: Options, *, err: TextIO) -> Iterator[PgRunner]:
    """A runner holding the database's migration lock; the connection closed afterwards."""
    conn = open_target(url)
    try:
        with server_errors(url):
            runner = PgRunner(
                conn,
                catalog,
                out=err,
                statement_timeout=options.statement_timeout,
                lock_timeout=options.lock_timeout,
                allow_changed=options.allow_changed,
                warn_slow=options.warn_slow,
            )
            runner.lock(timeout=options.busy_timeout, where=label(url))
            yield runner
    finally:
        conn.close()  # the lock goes with the session


@contextmanager
def server_errors(url: str) -> Iterator[None]:
    """A server error the runner did not expect, as one line (never a traceback)."""
    try:
        yield
    except psycopg.Error as error:
        raise CannotRun(f"{label(url)}: PostgreSQL error: {one_line(error)}") from None


def apply(
    runner: PgRunner,
    where: str,
    *,
    up_to: int | None,
    resume: bool,
    group: bool = False,
    out: TextIO,
    err: TextIO,
    log: RunLog | None,
    backup: Callable[[], None] | None = None,
) -> bool:
    """Apply what is pending (up to `up_to`); the lines of ci.db.deploy.apply. `group`: in
    as few transactions as the migrations allow (ci.db.postgres.group). `backup`: taken
    before the first change, when there is one to make."""
    pending = runner.preflight(up_to, resume=resume)
    if log is not None:
        log.planned = pending
    current = runner.current_version()
    if up_to is not None and up_to < current:
        print(f"database is at {current:04d}, above --target {up_to:04d}; nothing to apply "
              f"(to go down: --rollback {up_to + 1})", file=out)  # fmt: skip
    needs_setup = runner.tables.state(runner.conn) != "current"
    marks = runner.dirty() if resume else []
    print(_plan_line(runner, pending, where), file=out)
    if not (pending or marks or needs_setup):
        print(f"OK: database at {database_at(runner)}", file=out)
        return False
    if backup is not None:
        backup()
    return migrate_and_report(runner, up_to, resume=resume, group=group, out=out, err=err, log=log)


def dry_run(
    runner: PgRunner,
    where: str,
    *,
    up_to: int | None,
    rollback: int | None = None,
    out: TextIO,
    log: RunLog | None,
) -> bool:
    """The plan, then each step as it goes in one transaction rolled back at the end
    (ci.db.postgres.dryrun; with `rollback`, ci.db.postgres.dryrun_rollback); True when a step
    would fail."""
    plan = dry_plan(runner, up_to, rollback, out, log)
    if plan is None:
        return False
    print(f"{where}: dry run in one transaction, rolled back at the end", file=out)
    show_dry_plan(plan, out, rollback=rollback is not None)
    runner.conn.dry_run = True  # nothing that reaches outside the database (gate_reach)
    try:
        if rollback is not None:
            outcomes, failure, lines = _rehearse_rollback(runner, plan, printer(out, log))
        else:
            outcomes, failure, lines = _rehearse(runner, plan, printer(out, log))
    finally:
        runner.conn.dry_run = False
    return dry_verdict(plan, outcomes, failure, out=out, log=log, not_rehearsed=lines)


def _rehearse(runner: PgRunner, plan: list[Migration], show: OnOutcome) -> Rehearsal:
    from ci.db.postgres.dryrun import not_rehearsed_lines, rehearse

    outcomes, failure, rest = rehearse(runner, plan, show)
    return outcomes, failure, not_rehearsed_lines(rest, plan[: len(plan) - len(rest)])


def _rehearse_rollback(runner: PgRunner, plan: list[Migration], show: OnOutcome) -> Rehearsal:
    from ci.db.postgres.dryrun_rollback import not_rehearsed_lines, rehearse_rollback
    from ci.db.rollback import refuse_unsafe_rollback

    refuse_unsafe_rollback(runner.edited_problems(), runner.dirty())  # as the real rollback
    outcomes, failure, rest = rehearse_rollback(runner, plan, show)
    return outcomes, failure, not_rehearsed_lines(rest, plan[: len(plan) - len(rest)])


def roll_back(
    runner: PgRunner,
    where: str,
    version: int,
    *,
    out: TextIO,
    err: TextIO,
    log: RunLog | None,
    backup: Callable[[], None] | None = None,
) -> bool:
    """Undo the applied main-track migrations down to and including `version` (`backup`:
    taken first, after the refusals)."""
    plan = runner.rollback_plan(version)
    if log is not None:
        log.planned = plan
    if not plan:
        print(f"nothing to roll back: no applied migration >= {version:04d}", file=out)
        return False
    from ci.db.rollback import refuse_unsafe_rollback

    refuse_unsafe_rollback(runner.edited_problems(), runner.dirty())  # before the backup
    print(f"{where}: rolling back {', '.join(m.label for m in plan)}", file=out)
    if backup is not None:
        backup()
    return undo(runner, version, plan, out=out, err=err, log=log)


def read_status(
    url: str, catalog: Catalog, *, detect: bool = False, server_url: str | None = None
) -> Status:
    """What the database says (read only: no table is created, no lock is held). `detect`:
    also which pending migrations look applied (ci.db.postgres.baseline.detect, on a
    throwaway database on the server of `server_url`)."""
    conn = open_target(url)
    detection = None
    try:
        with server_errors(url):
            runner = PgRunner(conn, catalog)
            rows = runner.applied()
            marks = runner.dirty()
            if marks and not lock_is_free(conn):  # a runner is at work: its marks are its own
                marks = [DirtyMark(*(getattr(m, f) for f in DirtyMark.FIELDS)) for m in marks]
            if detect:
                from ci.db.postgres.baseline import detect as detected  # compares catalogues

                detection = detected(runner, server_url)
    finally:
        conn.close()
    files = {(m.track, m.version): m for m in catalog.all_migrations()}
    states = [
        hash_state(row, files.get((row.track, row.version)), engine="postgresql") for row in rows
    ]
    done = {(r.track, r.version) for r in rows}
    pending = [m for m in catalog.all_migrations() if (m.track, m.version) not in done]
    dirty = [dirty_message(mark) for mark in marks]
    status = Status(label(url), catalog, rows, states, pending, dirty, detect, detection)
    status.marks = marks
    return status


def _plan_line(runner: PgRunner, pending: list[Migration], where: str) -> str:
    if not pending:
        return f"{where}: up to date at {runner.current_version():04d}"
    return (f"{where}: {len(pending)} to apply ({pending[0].label} .. {pending[-1].label}; "
            f"at {runner.current_version():04d}, head {runner.catalog.head:04d})")  # fmt: skip
