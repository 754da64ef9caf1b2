"""The precheck (`python -m ci.precheck --db PATH`): is this database fit to migrate?
integrity_check, foreign_key_check, size, journal mode, dirty marks. Read-only: the database is
opened with `mode=ro` and never written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ci.checks.base import Check
from ci.checks.database import FOREIGN_KEYS, INTEGRITY, OPTIONS, dirty_case, inspected, main_version
from ci.core.findings import Report
from ci.db import health

NAME = "precheck"


def precheck(conn: sqlite3.Connection, path: Path) -> Report:
    db = str(path)
    cases = [
        health.integrity_case(NAME, conn, db, INTEGRITY, verify_checks=True),
        health.foreign_key_case(NAME, conn, db, FOREIGN_KEYS),
    ]
    cases.append(dirty_case(NAME, conn, db))
    print(describe(conn, path))
    return Report(NAME, cases)


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
    OPTIONS,
    lambda args: inspected(args, lambda conn: precheck(conn, args.db)),
    reads_migrations=False,
)
