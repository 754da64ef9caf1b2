"""`ci.migrate --format json|github`: the run with a RunLog (ci.db.runlog), then what the
database says afterwards, written for machines (ci.reports.runner_json, runner_github).

json: stdout holds one JSON document and nothing else; every human line goes to stderr.
github: the text output as always, plus `::error` annotations and a step summary.
Exit codes are the text run's. Imported only for these formats (start-up time of --status).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ci.app import exits
from ci.core.errors import UsageError
from ci.core.model import InputError
from ci.db.runlog import RunError, RunLog

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    import argparse
    from types import SimpleNamespace
    from typing import TextIO

    from ci.core.model import Catalog
    from ci.db.status import Status

    Args = argparse.Namespace | SimpleNamespace
    Run = Callable[[Args, TextIO, RunLog | None], int]


def report_run(args: Args, run: Run) -> int:
    """Run (`run` is ci.migrate's, which maps how it ended to the exit code), then write it."""
    log = RunLog(
        command_of(args),
        database_name(args),
        dry_run=args.dry_run,
        options={
            "target": args.target,
            "rollback": args.rollback,
            "group": args.group,
            "resume": args.resume,
        },
        output_format=args.output_format,
    )
    human = sys.stderr if args.output_format == "json" else sys.stdout
    try:
        log.exit_code = run(args, human, log)
    except Exception as crash:  # a bug of ours: still one line and one whole document
        line = f"internal error: {type(crash).__name__}: {crash}"
        print(f"migrate: {line}", file=sys.stderr)
        log.error, log.exit_code = RunError("could-not-run", line), exits.COULD_NOT_RUN
    if log.status is None and log.catalog is not None and not _unusable(log):
        log.status = status_after(args, log.catalog)
    if not written(log):
        return exits.COULD_NOT_RUN
    return log.exit_code


def written(log: RunLog) -> bool:
    """`write`, or one line on stderr when stdout cannot take the report (a full disk, a
    closed pipe): what was applied stays applied, the exit code says the report is missing."""
    from ci.reports import stdout_to_devnull

    try:
        write(log)
    except BrokenPipeError:  # the reader left (`... | head`), as `python -m ci` takes it
        stdout_to_devnull()
    except OSError as error:
        line = f"could not write the report: {error.strerror or error}"
        print(f"migrate: {line}", file=sys.stderr)
        stdout_to_devnull()
        return False
    return True


def database_name(args: Args) -> str:
    """The database as the document names it: its path, or its URL without the password."""
    url = getattr(args, "database_url", None)
    if url is None:
        return str(args.db)
    from ci.db.postgres.connect import label

    return label(url)


def command_of(args: Args) -> str:
    if args.status:
        return "status"
    if args.rollback is not None:
        return "rollback"
    if args.force_clean:
        return "force-clean"
    if args.baseline is not None:
        return "baseline"
    return "apply"


def _unusable(log: RunLog) -> bool:
    """The database could not be used (not SQLite, read-only, locked): reading it again
    would say the same, after another busy timeout."""
    return log.error is not None and log.error.kind in ("could-not-run", "interrupted")


def status_after(args: Args, catalog: Catalog) -> Status | None:
    """What the database says now (None: it cannot be read; the document says null)."""
    from ci.db.status import read_status

    if getattr(args, "database_url", None) is not None:
        from ci.db.postgres.deploy import read_status as read_postgres

        try:
            return read_postgres(args.database_url, catalog)
        except (InputError, UsageError):
            return None
    try:
        return read_status(
            Path(args.db),
            catalog,
            setup=args.setup,
            busy_timeout=args.busy_timeout,
            detect=False,
        )
    except (InputError, UsageError, sqlite3.Error, OSError):
        return None


def write(log: RunLog) -> None:
    if log.output_format == "json":
        from ci.reports.runner_json import write_json

        write_json(log, sys.stdout)
    else:
        from ci.reports.runner_github import write_github

        write_github(log, sys.stdout)


def parse_or_report(
    argv: Sequence[str] | None, parse: Callable[[Sequence[str] | None], Args]
) -> Args:
    """The options of a `--format json` line; a line the parser refuses still answers with a
    document (`could-not-run`, the parser's line as its message) besides its usual stderr."""
    import contextlib
    import io

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return parse(argv)
    except SystemExit as stop:
        if stop.code not in (0, None):  # not --help
            log = RunLog(None, _db_of(argv), output_format="json")
            log.error = RunError("could-not-run", _parser_line(said.getvalue()))
            log.exit_code = stop.code if isinstance(stop.code, int) else exits.COULD_NOT_RUN
            write(log)
        raise
    finally:
        sys.stderr.write(said.getvalue())  # the parser's usage and line, as without json


def _parser_line(said: str) -> str:
    """The parser's own line (`python -m ci.migrate: error: ...`), without its prefix."""
    for line in said.splitlines():
        if ": error: " in line:
            return line.partition(": error: ")[2]
    return said.strip().splitlines()[-1] if said.strip() else "the command line was refused"


def _db_of(argv: Sequence[str] | None) -> str:
    tokens = list(sys.argv[1:] if argv is None else argv)
    for at, token in enumerate(tokens[:-1]):
        if token == "--db":
            return tokens[at + 1]
    return ""
