"""`python -m ci.migrate`: apply, roll back, dry-run and show migrations on a SQLite file.

Exit 0: done. 1: a migration failed, or the run was refused before any change (edited applied
file, dirty database, bad migration file). 2: could not run (arguments, missing directory,
not a SQLite file, read-only, locked by another process).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ci.app.cli import (
    ArgumentParser,
    add_busy_timeout,
    add_migrations_dir,
    add_statement_timeout,
    migration_number,
    parse,
    run_program,
    seconds,
)
from ci.core.errors import UsageError
from ci.core.model import (
    Catalog,
    InputError,
    Migration,
    discover,
    not_a_database_file,
)
from ci.core.sqltext import checksum_matches
from ci.db import backup, bookkeeping
from ci.db.runner import (
    CannotRun,
    MigrationFailed,
    Outcome,
    Runner,
    RunRefused,
    connect,
    dirty_message,
    edit_kind,
    reading,
)

if TYPE_CHECKING:
    from ci.db.baseline import Step

PROG = "python -m ci.migrate"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Apply raw-SQL migrations to a SQLite database, one transaction each.",
    )
    parser.add_argument("--db", type=Path, required=True, help="the SQLite database file")
    add_migrations_dir(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: migration-guard.yaml if present); every key is also a flag",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="show applied and pending")
    action.add_argument(
        "--rollback",
        type=migration_number,
        metavar="N",
        help="undo applied main-track migrations from the newest down to and including N",
    )
    action.add_argument(
        "--force-clean",
        action="store_true",
        help="clear dirty marks left by an unfinished @no-transaction/@batch migration",
    )
    action.add_argument(
        "--baseline",
        type=migration_number,
        metavar="N",
        help="adopt an existing database: record main-track migrations up to N as applied "
        "without running them, after checking it has the shape they create",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --baseline: record them although the database differs (loudly, and logged)",
    )
    parser.add_argument(
        "--detect",
        action="store_true",
        help="with --status: say which pending migrations look already applied",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="execute the plan in a transaction that is rolled back; change nothing",
    )
    parser.add_argument("--target", type=migration_number, metavar="N", help="apply up to N only")
    parser.add_argument(
        "--resume", action="store_true", help="finish the migration a dirty mark names, then go on"
    )
    parser.add_argument(
        "--allow-changed",
        action="store_true",
        help="go on although applied files were edited (loudly)",
    )
    backups = parser.add_mutually_exclusive_group()
    backups.add_argument(
        "--backup",
        type=Path,
        metavar="PATH",
        help="back up here before changing anything (default: <db>.bak-<UTC time> "
        "when the database has data)",
    )
    backups.add_argument("--no-backup", action="store_true", help="take no backup")
    parser.add_argument(
        "--warn-slow",
        type=seconds,
        default=300.0,
        metavar="SECONDS",
        help="warn about each migration slower than this (default: 300)",
    )
    add_busy_timeout(
        parser, default=30.0, help="wait this long for another process's lock (default: 30)"
    )
    add_statement_timeout(
        parser,
        default=None,
        help="stop and roll back a migration still running after this long (default: no "
        "limit; a @batch or @no-transaction one is left dirty, as after any failure)",
    )
    parser.add_argument(
        "--setup",
        metavar="MODULE:FUNCTION",
        help="callable run on the connection first (register SQL functions, load extensions)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)  # the config file's values become defaults; flags win
    if args.target is not None and args.rollback is not None:
        parser.error("--target and --rollback do not go together")
    if args.resume and (args.status or args.rollback is not None or args.dry_run):
        parser.error("--resume goes with a plain run only")
    if args.baseline is not None and (args.target is not None or args.dry_run or args.resume):
        parser.error("--baseline goes with none of --target, --dry-run, --resume")
    if args.force and args.baseline is None:
        parser.error("--force goes with --baseline only")
    if args.detect and not args.status:
        parser.error("--detect goes with --status only")
    try:
        return run(args, out=sys.stdout, err=sys.stderr)
    except (InputError, UsageError) as error:  # CannotRun is a UsageError
        print(f"migrate: {error}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as error:  # the file itself: damaged pages, a full disk
        print(
            f"migrate: {args.db}: SQLite error: {error}; the run stopped (check the database "
            "with python -m ci.precheck; the backup, if one was taken, is beside it)",
            file=sys.stderr,
        )
        return 2
    except RunRefused as error:
        for line in str(error).splitlines():  # each names its file; nothing was changed
            print(f"migrate: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.dry_run:
            print("migrate: interrupted; the dry run changed nothing", file=sys.stderr)
            return 130
        print(
            "migrate: interrupted; the migration in progress was rolled back (a @batch or "
            "@no-transaction one stays marked dirty: finish it with --resume)",
            file=sys.stderr,
        )
        return 130


def run(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Open the database and do what the arguments ask."""
    db: Path = args.db
    problem = not_a_database_file(db)
    if problem is not None:
        raise CannotRun(problem)
    catalog = discover(args.migrations_dir)
    problems = [
        f"{p.path or catalog.root}: {p.message}; {p.hint}" if p.hint else f"{p.path}: {p.message}"
        for p in catalog.problems
    ]
    if problems and not args.status:  # a dry run refuses them as the real run does
        raise RunRefused("\n".join(problems))
    for problem in problems:
        print(f"migrate: warning: {problem}", file=err)
    if args.status:
        return show_status(args, catalog, out)
    if args.baseline is not None:
        return baseline(args, catalog, out, err)
    if not db.exists() and (args.rollback is not None or args.force_clean):
        raise CannotRun(f"{db}: no such database")
    if args.backup is not None and not (args.dry_run or args.force_clean):
        problem = backup.unusable_destination(args.backup, db)  # before even opening the db
        if problem is not None:
            raise CannotRun(problem)
    in_memory = args.dry_run and not db.exists()  # a dry run must not even create the file
    if in_memory:
        say_would_create(db, out)
    conn = connect(":memory:" if in_memory else db, setup=args.setup, timeout=args.busy_timeout)
    try:
        runner = Runner(
            conn,
            catalog,
            out=err,
            warn_slow=args.warn_slow,
            allow_changed=args.allow_changed,
            statement_timeout=args.statement_timeout,
        )
        if args.force_clean:
            return force_clean(runner, out)
        if args.dry_run:
            return dry_run(runner, args, out)
        if args.rollback is not None:
            return rollback(runner, args, out, err)
        return apply(runner, args, out, err)
    finally:
        conn.close()


# --- apply ----------------------------------------------------------------------------------


def apply(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    pending = runner.preflight(args.target, resume=args.resume)
    marks = runner.dirty() if args.resume else []
    current = runner.current_version()
    if args.target is not None and args.target < current:
        print(
            f"database is at {current:04d}, above --target {args.target:04d}; nothing to apply "
            f"(to go down: --rollback {args.target + 1})",
            file=out,
        )
    needs_setup = bookkeeping.state(runner.conn) != "current"
    print(_plan_line(runner, pending, args.db), file=out)
    if pending or marks or needs_setup:
        runner.check_writable()
        maybe_backup(runner, args, out)
    try:
        runner.migrate(args.target, resume=args.resume, on_outcome=_printer(out))
    except MigrationFailed as failure:
        print(f"migrate: {failure}", file=err)
        print(f"FAILED: {_what_failure_left(failure)}; database at {_at(runner)}", file=out)
        return 1
    print(f"OK: database at {_at(runner)}", file=out)
    return 0


def _what_failure_left(failure: MigrationFailed) -> str:
    """A migration in one transaction was rolled back whole; a @no-transaction or @batch one
    keeps what it committed and leaves the database dirty."""
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


def _at(runner: Runner) -> str:
    rows = runner.applied()
    main = max((r.version for r in rows if r.track == "main"), default=0)
    seeds = [r.label for r in rows if r.track == "seed"]
    seeded = f", seeds {seeds[0]}..{seeds[-1]}" if seeds else ""
    return f"{main:04d} (head {runner.catalog.head:04d}{seeded})"


def _printer(out: TextIO) -> Callable[[Outcome], None]:
    """One line per migration. On a terminal each line is flushed at once; into a pipe or file
    (CI logs) at most a second late, instead of a write per migration."""
    try:
        interactive = out.isatty()
    except (AttributeError, ValueError):
        interactive = False
    last_flush = [time.monotonic()]

    def show(outcome: Outcome) -> None:
        m = outcome.migration
        if outcome.action == "skipped":
            print(f"skipped {m.label}: already applied by another runner", file=out)
            return
        file = m.rollback if "roll" in outcome.action and m.rollback else m.file
        print(
            f"{outcome.action} {m.label:<9} {m.kind:<6} {file.location}: {outcome.rows:,} rows, "
            f"{outcome.seconds * 1000:.0f} ms",
            file=out,
        )
        now = time.monotonic()
        if interactive or now - last_flush[0] >= 1.0:
            out.flush()
            last_flush[0] = now

    return show


def maybe_backup(runner: Runner, args: argparse.Namespace, out: TextIO) -> None:
    """Back up before the first change: always with --backup PATH, by default if there is data."""
    if args.no_backup or str(args.db) == ":memory:":
        return
    if args.backup is None and not backup.has_data(runner.conn):
        return
    dest = args.backup or backup.default_path(args.db)
    try:
        dest = backup.take(runner.conn, dest, next_free_name=args.backup is None)
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


# --- rollback -------------------------------------------------------------------------------


def rollback(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    plan = runner.rollback_plan(args.rollback)
    if not plan:
        print(f"nothing to roll back: no applied migration >= {args.rollback:04d}", file=out)
        return 0
    print(f"{args.db}: rolling back {', '.join(m.label for m in plan)}", file=out)
    runner.check_writable()
    maybe_backup(runner, args, out)
    try:
        runner.rollback_to(args.rollback, on_outcome=_printer(out))
    except MigrationFailed as failure:
        print(f"migrate: {failure}", file=err)
        print(f"FAILED: that rollback was undone; database at {_at(runner)}", file=out)
        return 1
    print(f"OK: database at {_at(runner)}", file=out)
    return 0


# --- baseline -------------------------------------------------------------------------------


def baseline(args: argparse.Namespace, catalog: Catalog, out: TextIO, err: TextIO) -> int:
    """Record 0001..N as applied without running them, if the database has their shape."""
    from ci.db import baseline as adoption  # here, not at the top: the start-up of every deploy
    from ci.db.fingerprint import schema_fingerprint

    db: Path = args.db
    if not db.exists():
        raise CannotRun(
            f"{db}: no such database; --baseline adopts an existing one (a new database needs "
            "only migrate)"
        )
    chosen = adoption.chosen_migrations(catalog, args.baseline)
    span = f"{chosen[0].label}..{chosen[-1].label}"
    conn = connect(db, setup=args.setup, timeout=args.busy_timeout)
    try:
        runner = Runner(conn, catalog, out=err)
        with runner.guard():
            clash = adoption.already_recorded(conn, chosen)
            marks = bookkeeping.open_marks(conn)
        if clash is not None:
            raise RunRefused(clash)
        if marks:
            raise RunRefused("\n".join(dirty_message(mark) for mark in marks))
        print(f"{db}: comparing with what {span} create on a scratch database", file=out)
        expected = adoption.expected_print(catalog, chosen, setup=args.setup)
        with runner.guard():
            found = adoption.shape_of(schema_fingerprint(conn))
        comparison = adoption.compare(expected, found)
        if comparison.extras:
            print(comparison.note(span), file=out)
        if comparison.differences and not args.force:
            _refuse_baseline(comparison.differences, db, span, args.baseline, err)
            return 1
        for line in comparison.differences:
            print(
                f"migrate: WARNING: --force: recording {span} although the database differs: "
                f"{line}",
                file=err,
            )
        runner.check_writable()
        maybe_backup(runner, args, out)
        with runner.guard():
            adoption.record(
                conn, catalog, chosen, checked=found, forced_over=comparison.differences
            )
        print(
            f"OK: recorded {span} as applied without running them; database at {_at(runner)} "
            "(seeds are not recorded: the next migrate that reaches the head runs them)",
            file=out,
        )
        return 0
    finally:
        conn.close()


def _refuse_baseline(differences: list[str], db: Path, span: str, n: int, err: TextIO) -> None:
    print(
        f"migrate: {db} does not have the shape {span} create (migrations -> database):",
        file=err,
    )
    for line in differences:
        print(f"  {line}", file=err)
    print(
        f"migrate: nothing was changed; make the database match, or record {span} anyway "
        f"with --baseline {n} --force",
        file=err,
    )


# --- dry run --------------------------------------------------------------------------------


def say_would_create(db: Path, out: TextIO) -> None:
    """A dry run on a database that does not exist: the real run would create the file, so
    its directory must exist and take a new file; if not, the real run's line (CannotRun)."""
    import os  # only a dry run on a missing database needs these (start-up time)

    from ci.db.runner import explain

    folder = db.parent
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        # what SQLite answers the real run when it cannot create the file
        raise CannotRun(explain(sqlite3.OperationalError("unable to open database file"), str(db)))
    print(f"dry run: {db} does not exist; the real run would create it", file=out)


def dry_run(runner: Runner, args: argparse.Namespace, out: TextIO) -> int:
    if args.rollback is not None:
        plan = runner.rollback_plan(args.rollback)
        verb = "roll back"
        if not plan:  # as the real rollback: nothing to do, whatever else the database holds
            print(f"nothing to roll back: no applied migration >= {args.rollback:04d}", file=out)
            return 0
    else:
        plan = runner.preflight(args.target)
        verb = "apply"
    has_file = runner.db_name() != ":memory:"
    if has_file and (plan or bookkeeping.state(runner.conn) != "current"):
        # the real run's own test, before its backup: a read-only file or mount fails the
        # dry run as it would fail the run (a write lock taken and released, nothing written)
        runner.check_writable()
    print(f"dry run: plan to {verb} {len(plan)} migration(s); nothing will be changed", file=out)
    for number, m in enumerate(plan, start=1):
        file = m.rollback if args.rollback is not None else m.file
        print(f"  {number}. {m.label} {m.kind:<6} {file.path if file else m.path}", file=out)
    outcomes, failure = runner.dry_run(
        args.target, rollback_to=args.rollback, on_outcome=_printer(out), setup=args.setup
    )
    if failure is not None:
        failed = plan[len(outcomes)]
        print(f"would FAIL {failed.label}: {failure}", file=out)
        skipped = len(plan) - len(outcomes) - 1
        tail = f"; {skipped} not tried after it" if skipped else ""
        print(
            f"dry run: {len(outcomes)} would succeed, 1 would fail{tail}; nothing was changed",
            file=out,
        )
        return 1
    print(f"dry run: all {len(outcomes)} would succeed; nothing was changed", file=out)
    return 0


# --- force clean ----------------------------------------------------------------------------


def force_clean(runner: Runner, out: TextIO) -> int:
    marks = runner.force_clean()
    if not marks:
        print("no dirty marks; nothing to clean", file=out)
        return 0
    for mark in marks:
        print(
            f"cleared dirty mark for {mark.label} {mark.description} ({mark.rows_done:,} rows "
            "done); it is still not applied: make sure the database is as you want it, then "
            "run migrate again",
            file=out,
        )
    return 0


# --- status ---------------------------------------------------------------------------------


def show_status(args: argparse.Namespace, catalog: Catalog, out: TextIO) -> int:
    """Current version, applied (time, rows, hash state), pending, dirty marks."""
    db: Path = args.db
    if not db.exists():
        print(f"{db}: no database yet (nothing applied)", file=out)
        pending = catalog.main + catalog.seeds
        _print_pending(pending, out)
        if args.detect:
            print(f"detect: no database at {db} to compare with", file=out)
        return 0
    with reading(db, setup=args.setup, timeout=args.busy_timeout) as conn:
        rows = bookkeeping.read_applied(conn)
        marks = bookkeeping.open_marks(conn)
        detected = _detect(conn, catalog, args) if args.detect else None
    files = {(m.track, m.version): m for m in catalog.all_migrations()}
    current = max((r.version for r in rows if r.track == "main"), default=0)
    print(f"{db}: version {current:04d} (head of {catalog.root}: {catalog.head:04d})", file=out)
    problems = 0
    print(f"applied ({len(rows)}):", file=out)
    for row in rows:
        state = _hash_state(row, files.get((row.track, row.version)))
        problems += state.startswith("EDITED")
        rows_text = "?" if row.rows_affected is None else f"{row.rows_affected:,}"
        ms = "?" if row.execution_time_ms is None else f"{row.execution_time_ms:,} ms"
        print(
            f"  {row.label:<9} {row.migration_type:<6} {row.description:<32} "
            f"{row.applied_at or '?':<24} {ms:>9} {rows_text:>10} rows  {state}",
            file=out,
        )
    done = {(r.track, r.version) for r in rows}
    _print_pending([m for m in catalog.all_migrations() if (m.track, m.version) not in done], out)
    if marks:
        for mark in marks:
            print(f"DIRTY: {dirty_message(mark, str(db))}", file=out)
    else:
        print("dirty: none", file=out)
    if detected is not None:
        from ci.db.baseline import report_detect

        steps, failure = detected
        any_applied = any(r.track == "main" for r in rows)
        report_detect(steps, failure, db=db, any_applied=any_applied, out=out)
    return 1 if problems or marks else 0


def _detect(
    conn: sqlite3.Connection, catalog: Catalog, args: argparse.Namespace
) -> tuple[list[Step], str | None]:
    from ci.db.baseline import detect  # only --detect needs it (start-up time of every run)

    return detect(conn, catalog, setup=args.setup)


def _print_pending(pending: list[Migration], out: TextIO) -> None:
    if not pending:
        print("pending: none", file=out)
        return
    print(f"pending ({len(pending)}):", file=out)
    for m in pending:
        print(f"  {m.label:<9} {m.kind:<6} {m.path}", file=out)


def _hash_state(row: bookkeeping.AppliedRow, migration: Migration | None) -> str:
    if migration is None:
        return "missing file (warning: the applied migration's file is gone)"
    if row.file_hash is None:
        return "no hash recorded"
    if checksum_matches(row.file_hash, migration.file.data):
        return "ok"
    return f"EDITED: {migration.path} ({edit_kind(row, migration.file)})"


if __name__ == "__main__":
    raise SystemExit(run_program(main))
