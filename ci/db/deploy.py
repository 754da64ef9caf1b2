"""What `python -m ci.migrate` does to a database: apply, roll back, dry-run, force-clean.

Each operation takes a Runner opened by `opened`, prints what it does (one line per migration
on `out`, failures on `err`) and returns whether it found or caused a problem; the command maps
that to its exit code. A refusal before any change is RunRefused, a database that cannot be used
CannotRun (both raised). The backup is taken before the first change, after the write test.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ci.core.findings import Record
from ci.core.model import Catalog, Migration
from ci.core.statcache import StatCache
from ci.db import backup, bookkeeping
from ci.db.connection import connect, explain
from ci.db.deploy_shared import database_at as database_at
from ci.db.deploy_shared import dry_plan, dry_verdict, show_dry_plan
from ci.db.deploy_shared import force_clean as force_clean
from ci.db.outcomes import CannotRun, MigrationFailed, Outcome, whole_ms
from ci.db.runner import Runner

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

    from ci.db.deploy_shared import Applier, Deployed
    from ci.db.runlog import RunLog


class Target(Record):
    """The database a run works on: its file, how to open it (--setup, --busy-timeout), and
    the backup asked for (--backup PATH; --no-backup)."""

    FIELDS = ("db", "setup", "busy_timeout", "backup", "no_backup")
    __slots__ = FIELDS

    def __init__(
        self,
        db: Path,
        *,
        setup: str | None = None,
        busy_timeout: float = 30.0,
        backup: Path | None = None,
        no_backup: bool = False,
    ) -> None:
        self.db = db
        self.setup = setup
        self.busy_timeout = busy_timeout
        self.backup = backup
        self.no_backup = no_backup


@contextmanager
def opened(
    target: Target,
    catalog: Catalog,
    *,
    out: TextIO,
    err: TextIO,
    must_exist: bool = False,
    backup_ahead: bool = False,
    dry_run: bool = False,
    warn_slow: float = 300.0,
    allow_changed: bool = False,
    statement_timeout: float | None = None,
    hashes: StatCache | None = None,
) -> Iterator[Runner]:
    """A Runner on the target database, closed afterwards. `must_exist`: refuse a missing file
    (rollback, force-clean); `backup_ahead`: check the --backup destination before even
    opening the database; a dry run on a missing file works in memory and creates nothing.
    `hashes`: the stat cache that may vouch for applied files (ci.core.statcache)."""
    db = target.db
    if must_exist and not db.exists():
        raise CannotRun(f"{db}: no such database")
    if backup_ahead and target.backup is not None:
        problem = backup.unusable_destination(target.backup, db)
        if problem is not None:
            raise CannotRun(problem)
    in_memory = dry_run and not db.exists()  # a dry run must not even create the file
    if in_memory:
        _say_would_create(db, out)
    path = ":memory:" if in_memory else db
    conn = connect(path, setup=target.setup, timeout=target.busy_timeout)
    try:
        runner = Runner(
            conn,
            catalog,
            out=err,
            warn_slow=warn_slow,
            allow_changed=allow_changed,
            statement_timeout=statement_timeout,
        )
        runner.session.hashes = hashes
        yield runner
    finally:
        conn.close()


def _say_would_create(db: Path, out: TextIO) -> None:
    """A dry run on a database that does not exist: the real run would create the file, so
    its directory must exist and take a new file; if not, the real run's line (CannotRun)."""
    import os  # only a dry run on a missing database needs it (start-up time)

    folder = db.parent
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        # what SQLite answers the real run when it cannot create the file
        raise CannotRun(explain(sqlite3.OperationalError("unable to open database file"), str(db)))
    print(f"dry run: {db} does not exist; the real run would create it", file=out)


# --- apply -----------------------------------------------------------------------------------


def apply(
    runner: Runner,
    target: Target,
    *,
    up_to: int | None = None,
    resume: bool = False,
    group: bool = False,
    out: TextIO,
    err: TextIO,
    log: RunLog | None = None,
) -> bool:
    """Apply what is pending (up to `up_to`), after a backup if anything will change;
    `group`: in as few transactions as the migrations allow (ci.db.group); `log`: told the
    plan, each step and group, the backup and the failure (--format json|github)."""
    pending = runner.preflight(up_to, resume=resume)
    if log is not None:
        log.planned = pending
    marks = runner.dirty() if resume else []
    current = runner.current_version()
    if up_to is not None and up_to < current:
        print(
            f"database is at {current:04d}, above --target {up_to:04d}; nothing to apply "
            f"(to go down: --rollback {up_to + 1})",
            file=out,
        )
    needs_setup = bookkeeping.state(runner.conn) != "current"
    print(_plan_line(runner, pending, target.db), file=out)
    if not (pending or marks or needs_setup):  # preflight has just checked all there is
        print(f"OK: database at {database_at(runner)}", file=out)
        return False
    runner.session.check_writable()
    maybe_backup(runner, target, out, log)
    return migrate_and_report(runner, up_to, resume=resume, group=group, out=out, err=err, log=log)


def migrate_and_report(
    runner: Applier,
    up_to: int | None,
    *,
    resume: bool,
    group: bool,
    out: TextIO,
    err: TextIO,
    log: RunLog | None,
) -> bool:
    """Apply (the plan printed already), each step's line as it ends, each group's once it
    committed, then where the database is; True when a migration failed. Both engines'."""
    try:
        runner.migrate(
            up_to,
            resume=resume,
            on_outcome=printer(out, log),
            group=group,
            on_group=group_printer(out, log=log) if group else None,
        )
    except MigrationFailed as failure:
        if log is not None:
            log.failed(failure)
        print(f"migrate: {failure}", file=err)
        print(f"FAILED: {what_failure_left(failure)}; database at {database_at(runner)}", file=out)
        return True
    print(f"OK: database at {database_at(runner)}", file=out)
    return False


def what_failure_left(failure: MigrationFailed) -> str:
    """A migration in one transaction was rolled back whole; a @no-transaction or @batch one
    keeps what it committed and leaves the database dirty."""
    if failure.group is not None:
        failed = Path(failure.path).name
        return f"group rolled back: {failure.group} not applied ({failed} failed)"
    if failure.left_dirty is None:
        return "that migration was rolled back"
    return (
        f"{failure.left_dirty} and the database is marked dirty: fix the cause, then --resume "
        "(or repair by hand and --force-clean)"
    )


def _plan_line(runner: Runner, pending: list[Migration], db: Path) -> str:
    if not pending:
        return f"{db}: up to date at {runner.current_version():04d}"
    return (
        f"{db}: {len(pending)} to apply "
        f"({pending[0].label} .. {pending[-1].label}; at {runner.current_version():04d}, "
        f"head {runner.catalog.head:04d})"
    )


# --- rollback and force-clean ----------------------------------------------------------------


def roll_back(
    runner: Runner,
    target: Target,
    version: int,
    *,
    out: TextIO,
    err: TextIO,
    log: RunLog | None = None,
) -> bool:
    """Undo the applied main-track migrations down to and including `version`, newest first."""
    plan = runner.rollback_plan(version)
    if log is not None:
        log.planned = plan
    if not plan:
        print(f"nothing to roll back: no applied migration >= {version:04d}", file=out)
        return False
    from ci.db.rollback import refuse_unsafe_rollback  # a rollback only (start-up time)

    refuse_unsafe_rollback(runner.edited_problems(), runner.dirty())  # before the backup
    print(f"{target.db}: rolling back {', '.join(m.label for m in plan)}", file=out)
    runner.session.check_writable()
    maybe_backup(runner, target, out, log)
    return undo(runner, version, plan, out=out, err=err, log=log)


def undo(
    runner: Deployed,
    version: int,
    plan: list[Migration],
    *,
    out: TextIO,
    err: TextIO,
    log: RunLog | None = None,
) -> bool:
    """Roll back `plan` (printed already), each step's line as it ends, then where the
    database is; True when a step failed (it was undone)."""
    try:
        runner.rollback_to(version, on_outcome=printer(out, log), plan=plan)
    except MigrationFailed as failure:
        if log is not None:
            log.failed(failure)
        print(f"migrate: {failure}", file=err)
        print(f"FAILED: that rollback was undone; database at {database_at(runner)}", file=out)
        return True
    print(f"OK: database at {database_at(runner)}", file=out)
    return False


# --- dry run ---------------------------------------------------------------------------------


def dry_run(
    runner: Runner,
    target: Target,
    *,
    up_to: int | None = None,
    rollback: int | None = None,
    group: bool = False,
    out: TextIO,
    log: RunLog | None = None,
) -> bool:
    """The plan, then each step as it would go on a private copy (ci.db.dryrun); True when a
    step would fail. `group`: rehearsed grouped, as the real run would go."""
    plan = dry_plan(runner, up_to, rollback, out, log)
    if plan is None:
        return False
    has_file = runner.session.db_name() != ":memory:"
    if has_file and (plan or bookkeeping.state(runner.conn) != "current"):
        # the real run's own test, before its backup: a read-only file or mount fails the
        # dry run as it would fail the run (a write lock taken and released, nothing written)
        runner.session.check_writable()
    show_dry_plan(plan, out, rollback=rollback is not None)
    outcomes, failure = runner.dry_run(
        up_to,
        rollback_to=rollback,
        rollback_plan=plan if rollback is not None else None,
        on_outcome=printer(out, log),
        setup=target.setup,
        group=group,
        on_group=group_printer(out, dry=True, log=log) if group else None,
    )
    return dry_verdict(plan, outcomes, failure, out=out, log=log)


# --- shared by the operations ----------------------------------------------------------------


def maybe_backup(runner: Runner, target: Target, out: TextIO, log: RunLog | None = None) -> None:
    """Back up before the first change: always with --backup PATH, by default if there is data."""
    if target.no_backup or str(target.db) == ":memory:":
        return
    if target.backup is None and not backup.has_data(runner.conn):
        return
    dest = target.backup or backup.default_path(target.db)
    try:
        dest = backup.take(runner.conn, dest, next_free_name=target.backup is None)
    except backup.BackupExists:
        raise CannotRun(
            f"{dest}: already exists (it appeared while the backup was written; it was kept, "
            "as a backup never overwrites a file)"
        ) from None
    except OSError as error:
        raise CannotRun(f"{dest}: cannot write the backup: {error.strerror}") from None
    except Exception as error:  # sqlite3.Error from the destination file
        raise CannotRun(f"{dest}: cannot write the backup: {error}") from None
    print(f"backup: {dest}", file=out)
    if log is not None:
        log.backup = str(dest)


def printer(out: TextIO, log: RunLog | None = None) -> Callable[[Outcome], None]:
    """One line per migration (each also told to `log`). On a terminal flushed at once; into
    a pipe or file (CI logs) at most a second late, instead of a write per migration."""
    try:
        interactive = out.isatty()
    except (AttributeError, ValueError):
        interactive = False
    last_flush = [time.monotonic()]

    def show(outcome: Outcome) -> None:
        if log is not None:
            log.outcome(outcome)
        m = outcome.migration
        if outcome.action == "skipped":
            print(f"skipped {m.label}: already applied by another runner", file=out)
            return
        file = m.rollback if "roll" in outcome.action and m.rollback else m.file
        # one write, not print(): print writes the line and its newline apart, each through the
        # stream's wrapper, for every one of 1,000 migrations
        out.write(
            f"{outcome.action} {m.label:<9} {m.kind:<6} {file.location}: {outcome.rows:,} rows, "
            f"{whole_ms(outcome.seconds)} ms\n"
        )
        now = time.monotonic()
        if interactive or now - last_flush[0] >= 1.0:
            out.flush()
            last_flush[0] = now

    return show


def group_printer(
    out: TextIO, *, dry: bool = False, log: RunLog | None = None
) -> Callable[[list[Outcome], float], None]:
    """With --group: one line for each group once it has committed (its outcomes came first)."""
    verb = "would commit" if dry else "committed"

    def show(outcomes: list[Outcome], seconds: float) -> None:
        if log is not None:
            log.group(outcomes, seconds)
        applied = [o.migration for o in outcomes if o.action != "skipped"]
        if not applied:  # another runner applied them all meanwhile: each said "skipped"
            return
        print(
            f"group of {len(applied)} migrations ({applied[0].label}..{applied[-1].label}) "
            f"{verb} in {seconds:.2f} s",
            file=out,
        )

    return show
