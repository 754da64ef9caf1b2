"""Online backups with SQLite's backup API before the runner changes a database (SPEC 4)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def default_path(db: Path) -> Path:
    """`<db>.bak-<UTC timestamp>`, never an existing file."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = db.with_name(f"{db.name}.bak-{stamp}")
    counter = 2
    while candidate.exists():
        candidate = db.with_name(f"{db.name}.bak-{stamp}-{counter}")
        counter += 1
    return candidate


def has_data(conn: sqlite3.Connection) -> bool:
    """Whether the database holds anything at all (a new, empty file needs no backup)."""
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None


def take(conn: sqlite3.Connection, dest: Path) -> Path:
    """Copy the whole database to `dest` consistently, even while others read it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(str(dest))
    try:
        conn.backup(target)
    finally:
        target.close()
    return dest
