"""`python -m ci.precheck --db PATH`: is this database fit to migrate? (the
pre-migration check): integrity_check, foreign_key_check, size, journal mode, dirty marks.

Read-only: the database is opened with `mode=ro` and never written.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ci.app.cli import (
    ArgumentParser,
    add_busy_timeout,
    refuse_unsafe_junit,
    run_program,
)
from ci.core.errors import UsageError
from ci.core.findings import Case, Finding, Report
from ci.core.model import InputError, not_a_database_file
from ci.db import bookkeeping, health
from ci.db.runner import dirty_message, reading

CHECK = "precheck"
INTEGRITY = health.Wording(
    "MG350", "integrity_check", "restore from a backup (or .recover it) before migrating"
)
FOREIGN_KEYS = health.Wording(
    "MG351",
    "foreign_key_check",
    "fix or delete the orphan rows first; every migration's commit checks them",
)


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """Options precheck and postcheck share."""
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("--db", type=Path, required=True, help="the SQLite database file")
    parser.add_argument("--junit", type=Path, default=None, help="write a JUnit XML report here")
    parser.add_argument(
        "--format", choices=("text", "github", "json"), default=None, help="output format"
    )
    parser.add_argument(
        "--setup", metavar="MODULE:FUNCTION", default=None, help="callable run on the connection"
    )
    add_busy_timeout(parser, default=30.0, help="lock wait (30)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(
        f"python -m ci.{CHECK}",
        "Check a database before migrating it: integrity, foreign keys, size, dirty marks.",
    )
    args = parser.parse_args(argv)
    refuse_unsafe_junit(parser.prog, args)
    return run_report(CHECK, args, precheck)


def run_report(
    check: str,
    args: argparse.Namespace,
    work: Callable[[sqlite3.Connection, argparse.Namespace], Report],
) -> int:
    """Open the database read-only, run `work`, emit its report; user errors exit 2."""
    from ci import reports

    db: Path = args.db
    try:
        problem = not_a_database_file(db)
        if problem is not None:
            raise UsageError(problem)
        if not db.is_file():
            raise UsageError(f"{db}: no such database file")
        with reading(db, setup=args.setup, timeout=args.busy_timeout) as conn:
            report = work(conn, args)
    except (UsageError, InputError) as error:
        print(f"{check}: {error}", file=sys.stderr)
        return 2
    except sqlite3.Error as error:
        print(f"{check}: {db}: {error}", file=sys.stderr)
        return 2
    if not reports.emit([report], fmt=args.format, junit=args.junit):
        return 2
    return report.exit_code


def precheck(conn: sqlite3.Connection, args: argparse.Namespace) -> Report:
    db = str(args.db)
    cases = [
        health.integrity_case(CHECK, conn, db, INTEGRITY, verify_checks=True),
        health.foreign_key_case(CHECK, conn, db, FOREIGN_KEYS),
    ]
    cases.append(dirty_case(CHECK, conn, db))
    print(describe(conn, args.db))
    return Report(CHECK, cases)


def describe(conn: sqlite3.Connection, db: Path) -> str:
    """Size, journal mode and version, for the log (the seed's 'DB size')."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    applied = bookkeeping.read_applied(conn)
    version = bookkeeping.head_version(applied)
    size = db.stat().st_size
    return (
        f"{db}: {size:,} bytes ({pages:,} pages of {page_size:,}, {free:,} free), "
        f"journal_mode={mode}, schema_version {version:04d} ({len(applied)} applied)"
    )


def dirty_case(check: str, conn: sqlite3.Connection, db: str) -> Case:
    case = Case("dirty marks", check, path=db)
    for mark in bookkeeping.open_marks(conn):
        case.findings.append(
            Finding(check, "MG352", db, None, dirty_message(mark).split(". Run with")[0],
                    "python -m ci.migrate --resume (or fix by hand and --force-clean)")
        )  # fmt: skip
    return case


if __name__ == "__main__":
    raise SystemExit(run_program(main))
