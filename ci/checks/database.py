"""What precheck and postcheck share: their options, opening the user's database read-only, and
the health cases both report (integrity, foreign keys, dirty marks).

These checks judge one database (before or after a deploy), not the migrations: they take no
FILES and no `--migrations-dir`. The database is a SQLite file (`--db`) or a PostgreSQL database
(`--database-url`, ci.checks.database_postgres, imported only then).
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ci.checks import options
from ci.checks.options import Option
from ci.core.errors import UsageError
from ci.core.findings import Case, Finding, Report
from ci.core.model import not_a_database_file
from ci.db import bookkeeping, health
from ci.db.runner import dirty_message, reading

INTEGRITY = health.Wording(
    "MG350", "integrity_check", "restore from a backup (or .recover it) before migrating"
)
FOREIGN_KEYS = health.Wording(
    "MG351",
    "foreign_key_check",
    "fix or delete the orphan rows first; every migration's commit checks them",
)

# The options precheck and postcheck share, in their --help order.
OPTIONS = (
    Option("--db", type=Path, default=None, help="the SQLite database file"),
    Option(
        "--database-url",
        type=options.postgres_url,
        default=None,
        metavar="URL",
        help="a PostgreSQL database instead: postgresql://USER@HOST:PORT/DB (read-only; a "
        "password in it is never shown)",
    ),
    Option("--junit", type=Path, default=None, help="write a JUnit XML report here"),
    Option(
        "--format",
        choices=("text", "github", "json", "sarif", "gitlab"),
        default=None,
        help="output format",
    ),
    Option(
        "--setup", metavar="MODULE:FUNCTION", default=None, help="callable run on the connection"
    ),
    options.busy_timeout(default=30.0, help="lock wait (30)"),
)


def postgres_url(args: argparse.Namespace) -> str | None:
    """The `--database-url` given, or None for a SQLite `--db`; exactly one of them must be
    given (a UsageError otherwise, as for a `--db` that names a URL)."""
    url: str | None = args.database_url
    if url is None and args.db is None:
        raise UsageError("one of --db and --database-url is required")
    if url is not None and args.db is not None:
        raise UsageError("--db and --database-url do not go together (one database per run)")
    if url is None and looks_like_url(args.db):
        raise UsageError("--db takes a SQLite file; give a PostgreSQL database as --database-url")
    if url is not None and args.setup is not None:
        raise UsageError("--setup is for SQLite connections only")
    return url


def looks_like_url(db: Path) -> bool:
    """`postgresql://h/db` given as a path (which then reads `postgresql:/h/db`)."""
    scheme, colon, _ = str(db).partition(":/")
    return bool(colon) and scheme.lower() in options.POSTGRES_SCHEMES


def inspected(args: argparse.Namespace, work: Callable[[sqlite3.Connection], Report]) -> Report:
    """`work`'s report on the database `--db`, opened read-only (with `--setup` and
    `--busy-timeout`); a database that cannot be read is a UsageError naming it (the check
    could not run)."""
    db: Path = args.db
    problem = not_a_database_file(db)
    if problem is not None:
        raise UsageError(problem)
    if not db.is_file():
        raise UsageError(f"{db}: no such database file")
    try:
        with reading(db, setup=args.setup, timeout=args.busy_timeout) as conn:
            return work(conn)
    except sqlite3.Error as error:
        raise UsageError(f"{db}: {error}") from None


def dirty_case(check: str, conn: sqlite3.Connection, db: str) -> Case:
    case = Case("dirty marks", check, path=db)
    for mark in bookkeeping.open_marks(conn):
        case.findings.append(
            Finding(check, "MG352", db, None, dirty_message(mark).split(". Run with")[0],
                    "python -m ci.migrate --resume (or fix by hand and --force-clean)")
        )  # fmt: skip
    return case


def main_version(conn: sqlite3.Connection) -> tuple[int, int]:
    """(the main-track version, how many migrations are applied) of the database."""
    applied = bookkeeping.read_applied(conn)
    return bookkeeping.head_version(applied), len(applied)
