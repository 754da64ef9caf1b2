"""`python -m ci.migrate`: apply, roll back, dry-run and show migrations on a SQLite file (or,
with --database-url, apply, roll back and show them on a PostgreSQL database).

Exit 0: done. 1: a migration failed, or the run was refused before any change (edited applied
file, dirty database, bad migration file). 2: could not run (arguments, missing directory,
not a SQLite file, read-only, locked by another process).

This module reads the options (ci.app.migrate_options) and calls one operation (ci.db.deploy,
ci.db.status, ci.db.baseline); each is imported when it is asked for (start-up time of every
deploy).
"""

from __future__ import annotations

import gc
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ci.app import exits
from ci.app.migrate_options import build_parser as build_parser  # the tests ask for it here
from ci.app.migrate_options import parse_args
from ci.app.program import run_as_process
from ci.app.server_errors import server_stopped
from ci.core.errors import UsageError
from ci.core.model import Catalog, InputError, discover, not_a_database_file
from ci.core.model.discovery import CHECKED
from ci.core.statcache import open_cache
from ci.db.outcomes import CannotRun, RunRefused

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    import argparse
    from types import SimpleNamespace
    from typing import TextIO

    from ci.core.model.discovery import Rollbacks
    from ci.db.deploy import Target
    from ci.db.postgres.runner import PgRunner
    from ci.db.runlog import RunLog

    Args = argparse.Namespace | SimpleNamespace

_GC_STATE: set[str] = set()  # "paused": main turned the collector off; "frozen": see change


def main(argv: Sequence[str] | None = None) -> int:
    # The start-up makes thousands of objects and no garbage cycles, and the collector would
    # walk them all several times (~3.5% of a --status on 1,000 migrations): it is paused
    # until migrations run (change), and on again when main returns.
    _GC_STATE.clear()
    if gc.isenabled():
        _GC_STATE.add("paused")
        gc.disable()
    try:
        return _main(argv)
    finally:
        if "frozen" in _GC_STATE:
            gc.unfreeze()  # a caller that goes on (a test) may collect them again
        if "paused" in _GC_STATE:
            gc.enable()
        _GC_STATE.clear()


def _main(argv: Sequence[str] | None) -> int:
    if _asks_for_json(argv):  # even a refused command line answers with a document
        from ci.app.migrate_report import parse_or_report

        args = parse_or_report(argv, parse_args)
    else:
        args = parse_args(argv)
    if args.output_format == "text":
        return run_mapped(args, sys.stdout, None)
    from ci.app.migrate_report import report_run  # --format json|github only (start-up time)

    return report_run(args, run_mapped)


def _asks_for_json(argv: Sequence[str] | None) -> bool:
    tokens = list(sys.argv[1:] if argv is None else argv)
    given = (tokens[at + 1] for at, token in enumerate(tokens[:-1]) if token == "--format")
    return "--format=json" in tokens or "json" in given


def run_mapped(args: Args, out: TextIO, log: RunLog | None) -> int:
    """Run, and map how it ended to the exit code; each stop is one line on stderr per problem
    (and, with a RunLog, its error: --format json|github)."""
    try:
        found = run(args, out=out, err=sys.stderr, log=log)
    except (InputError, UsageError) as error:  # CannotRun is a UsageError
        return _stop(log, "could-not-run", [str(error)], exits.COULD_NOT_RUN)
    except sqlite3.DatabaseError as error:  # the file itself: damaged pages, a full disk
        line = (
            f"{args.db}: SQLite error: {error}; the run stopped (check the database "
            "with python -m ci.precheck; the backup, if one was taken, is beside it)"
        )
        return _stop(log, "could-not-run", [line], exits.COULD_NOT_RUN)
    except RunRefused as error:  # each line names its file; nothing was changed
        return _stop(log, "refused", _refused_lines(error, args), exits.FINDINGS)
    except KeyboardInterrupt:
        line = f"interrupted; {_what_interrupted(args)}"
        return _stop(log, "interrupted", [line], exits.INTERRUPTED)
    except Exception as error:
        stopped = server_stopped(error)  # the server's doing; anything else is a bug of ours
        if stopped is None:
            raise
        return _stop(log, "could-not-run", [stopped], exits.COULD_NOT_RUN)
    return exits.of_problems(found)


def _refused_lines(error: RunRefused, args: Args) -> list[str]:
    """The refusal's lines; a rollback past an @irreversible migration ends with the way back
    (the backup beside the database taken before it, else a new migration)."""
    lines = str(error).splitlines()
    from ci.db.rollback import CannotUndo, way_back  # on a refusal only: no start-up cost

    if isinstance(error, CannotUndo):
        lines.append(way_back(error.row, args.db))
    return lines


def _stop(log: RunLog | None, kind: str, lines: list[str], code: int) -> int:
    for line in lines:
        print(f"migrate: {line}", file=sys.stderr)
    if log is not None:
        from ci.db.runlog import RunError

        log.error = RunError(kind, lines[0] if lines else kind, lines=lines)
    return code


def _what_interrupted(args: Args) -> str:
    if args.dry_run:
        return "the dry run changed nothing"
    if args.group:
        return (
            "the group in progress was rolled back whole (a @batch or @no-transaction "
            "migration running on its own stays marked dirty: finish it with --resume)"
        )
    return (
        "the migration in progress was rolled back (a @batch or @no-transaction one stays "
        "marked dirty: finish it with --resume)"
    )


def run(args: Args, *, out: TextIO, err: TextIO, log: RunLog | None = None) -> bool:
    """Do the one thing the options ask for; True when it found or caused a problem.
    `log`: told what the run does (--format json|github)."""
    catalog = load_catalog(
        args.migrations_dir,
        getattr(args, "database_url", None) or args.db,
        refuse_problems=not args.status,
        rollbacks=args.rollback is not None,
        err=err,
    )
    if log is not None:
        log.catalog = catalog
    if getattr(args, "database_url", None) is not None:
        return run_postgres(args, catalog, out=out, err=err, log=log)
    if args.status:
        return show_status(args, catalog, out, log)
    from ci.db import deploy

    target = deploy.Target(
        args.db,
        setup=args.setup,
        busy_timeout=args.busy_timeout,
        backup=args.backup,
        no_backup=args.no_backup,
    )
    if args.baseline is not None:
        from ci.db.baseline import adopt  # compares schemas: only --baseline needs it

        return adopt(target, catalog, args.baseline, force=args.force, out=out, err=err)
    return change(args, target, catalog, out=out, err=err, log=log)


def show_status(args: Args, catalog: Catalog, out: TextIO, log: RunLog | None = None) -> bool:
    from ci.db.status import read_status
    from ci.reports.status import write_status

    status = read_status(
        args.db,
        catalog,
        setup=args.setup,
        busy_timeout=args.busy_timeout,
        detect=args.detect,
        hashes=open_cache(catalog.root, verify=args.verify),
    )
    if log is not None:
        log.status = status
    if log is None or log.output_format != "json" or args.detect:  # json: --detect on stderr
        write_status(status, out)
    return status.found_problems


def change(
    args: Args,
    target: Target,
    catalog: Catalog,
    *,
    out: TextIO,
    err: TextIO,
    log: RunLog | None = None,
) -> bool:
    """Apply, roll back, dry-run, force-clean or rehash: each with a runner on the database."""
    from ci.db import deploy

    with deploy.opened(
        target,
        catalog,
        out=out,
        err=err,
        must_exist=args.rollback is not None or args.force_clean or args.rehash,
        backup_ahead=not (args.dry_run or args.force_clean or args.rehash),
        dry_run=args.dry_run,
        warn_slow=args.warn_slow,
        allow_changed=args.allow_changed,
        statement_timeout=args.statement_timeout,
        hashes=open_cache(catalog.root, verify=args.verify),
    ) as runner:
        _collect_garbage_again()  # migrations run now: a long run needs its collector
        if args.force_clean:
            return deploy.force_clean(runner, out=out)
        if args.rehash:
            from ci.db.rehash import rehash  # only --rehash needs it

            return rehash(runner, out=out)
        if args.dry_run:
            up_to, rollback = args.target, args.rollback
            return deploy.dry_run(
                runner, target, up_to=up_to, rollback=rollback, group=args.group, out=out, log=log
            )
        if args.rollback is not None:
            return deploy.roll_back(runner, target, args.rollback, out=out, err=err, log=log)
        return deploy.apply(
            runner,
            target,
            up_to=args.target,
            resume=args.resume,
            group=args.group,
            out=out,
            err=err,
            log=log,
        )


def run_postgres(
    args: Args, catalog: Catalog, *, out: TextIO, err: TextIO, log: RunLog | None
) -> bool:
    """The same operations on a PostgreSQL database (ci.db.postgres.deploy), imported only
    here: a SQLite run never loads psycopg."""
    from ci.db.postgres import deploy
    from ci.db.postgres.connect import label

    url = args.database_url
    if args.status:
        status = deploy.read_status(url, catalog, detect=args.detect, server_url=_server(args))
        if log is not None:
            log.status = status
        if log is None or log.output_format != "json" or args.detect:  # json: --detect on stderr
            from ci.reports.status import write_status

            write_status(status, out)
        return status.found_problems
    options = deploy.Options(
        busy_timeout=args.busy_timeout,
        statement_timeout=args.statement_timeout,
        lock_timeout=args.lock_timeout,
        allow_changed=args.allow_changed,
        warn_slow=args.warn_slow,
    )
    where = label(url)
    backup = None if args.backup is None else _pg_backup(args, out, log)
    with deploy.opened(url, catalog, options, err=err) as runner, deploy.server_errors(url):
        if args.force_clean:
            from ci.db.deploy import force_clean  # one for both engines

            return force_clean(runner, out=out)
        if args.baseline is not None:
            return _baseline_postgres(args, runner, where, out=out, err=err)
        if args.rehash:
            from ci.db.postgres.rehash import rehash  # only --rehash needs it

            return rehash(runner, out=out)
        if args.dry_run:
            return deploy.dry_run(
                runner, where, up_to=args.target, rollback=args.rollback, out=out, log=log
            )
        if args.rollback is not None:
            return deploy.roll_back(
                runner, where, args.rollback, out=out, err=err, log=log, backup=backup
            )
        return deploy.apply(
            runner,
            where,
            up_to=args.target,
            resume=args.resume,
            group=args.group,
            out=out,
            err=err,
            log=log,
            backup=backup,
        )


def _baseline_postgres(
    args: Args, runner: PgRunner, where: str, *, out: TextIO, err: TextIO
) -> bool:
    from ci.db.postgres.baseline import adopt  # compares catalogues: only --baseline needs it

    return adopt(
        runner, where, args.baseline, server_url=_server(args), force=args.force, out=out, err=err
    )


def _pg_backup(args: Args, out: TextIO, log: RunLog | None) -> Callable[[], None]:
    """--backup PATH with --database-url: refused at once when PATH exists; otherwise what
    takes the pg_dump archive before the first change (ci.db.postgres.backup)."""
    from ci.db.postgres.backup import refuse_existing, take

    refuse_existing(args.backup)

    def backup() -> None:
        dest = take(args.database_url, args.backup, lock_wait=args.busy_timeout)
        print(f"backup: {dest}", file=out)
        if log is not None:
            log.backup = str(dest)

    return backup


def _server(args: Args) -> str | None:
    """The server for a throwaway database (--baseline, --detect): --server-url, the config
    file's `server_url`, or $MIGRATION_GUARD_SERVER_URL."""
    from ci.checks.options import server_url_or_env

    return server_url_or_env(getattr(args, "server_url", None))


def _collect_garbage_again() -> None:
    """Turn the collector back on, unless it was off before main paused it. The objects made
    until now live as long as the run: frozen, no collection walks them (the first one would
    walk them all: ~2% of a run that finds nothing to apply)."""
    if "paused" in _GC_STATE and "frozen" not in _GC_STATE:
        gc.freeze()
        _GC_STATE.add("frozen")
        gc.enable()


def load_catalog(
    migrations_dir: Path, db: Path | str, *, refuse_problems: bool, rollbacks: bool, err: TextIO
) -> Catalog:
    """The migrations, after a look at the database path; a problem with the files refuses
    the run (a dry run refuses them as the real run does), or is a warning (--status).

    Only a rollback (`rollbacks`) reads rollback files. --status shows what is applied and
    pending, never a rollback file: it does not list the rollback folder (half the entries of
    a typical directory, on the start-up it is measured by); ci.numbering reports the problems
    there. Any other run refuses a bad entry there, but pairs no file with its migration
    unless an entry is bad (CHECKED: one pattern over all names, ~1k instructions a file
    instead of ~17k)."""
    problem = None if isinstance(db, str) else not_a_database_file(db)  # a URL is not a file
    if problem is not None:
        raise CannotRun(problem)
    listed: Rollbacks = True if rollbacks else CHECKED if refuse_problems else False
    catalog = discover(migrations_dir, rollbacks=listed)
    problems = [
        f"{p.path or catalog.root}: {p.message}; {p.hint}" if p.hint else f"{p.path}: {p.message}"
        for p in catalog.problems
    ]
    if problems and refuse_problems:
        raise RunRefused("\n".join(problems))
    for line in problems:
        print(f"migrate: warning: {line}", file=err)
    return catalog


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
