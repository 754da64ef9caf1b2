"""The precheck (`python -m ci.precheck --db PATH`): is this database fit to migrate?
integrity_check, foreign_key_check, size, journal mode, dirty marks. Read-only: the database is
opened with `mode=ro` and never written.

`--export-stats FILE` also writes the database's per-table row and page counts, no data
(ci.db.prodstats), for `apply_sample --prod-stats FILE` to scale its timings to production.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from ci.checks.base import Check
from ci.checks.database import FOREIGN_KEYS, INTEGRITY, OPTIONS, dirty_case, inspected, main_version
from ci.checks.options import Option
from ci.core.errors import UsageError
from ci.core.findings import Report
from ci.db import health, prodstats

NAME = "precheck"


def precheck(conn: sqlite3.Connection, path: Path, stats: Path | None = None) -> Report:
    db = str(path)
    cases = [
        health.integrity_case(NAME, conn, db, INTEGRITY, verify_checks=True),
        health.foreign_key_case(NAME, conn, db, FOREIGN_KEYS),
    ]
    cases.append(dirty_case(NAME, conn, db))
    print(describe(conn, path))
    if stats is not None:
        export_stats(conn, stats)
    return Report(NAME, cases)


def export_stats(conn: sqlite3.Connection, out: Path) -> None:
    """Write the row and page counts of the database on `conn` to `out` (whole or not at all)."""
    document = prodstats.collect(conn, main_version(conn)[0])
    prodstats.write(document, out)
    tables = document["tables"]
    assert isinstance(tables, dict)
    print(
        f"{out}: row and page counts of {len(tables)} tables (pages from "
        f"{document['pages_from']}), no data",
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> Report:
    stats: Path | None = args.export_stats
    if stats is not None and (stats.is_dir() or _same_file(stats, args.db)):
        raise UsageError(f"{stats}: --export-stats needs a file of its own, not the database")
    return inspected(args, lambda conn: precheck(conn, args.db, stats))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def describe(conn: sqlite3.Connection, db: Path) -> str:
    """Size, journal mode and version, for the log (the seed's 'DB size')."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    version, applied = main_version(conn)
    size = db.stat().st_size
    return (
        f"{db}: {size:,} bytes ({pages:,} pages of {page_size:,}, {free:,} free), "
        f"journal_mode={mode}, schema_version {version:04d} ({applied} applied)"
    )


CHECK = Check(
    NAME,
    "Check a database before migrating it: integrity, foreign keys, size, dirty marks.",
    (
        *OPTIONS,
        Option(
            "--export-stats",
            type=Path,
            default=None,
            metavar="FILE",
            help="also write per-table row and page counts (no data) as JSON, for "
            "apply_sample --prod-stats",
        ),
    ),
    run,
    reads_migrations=False,
)
