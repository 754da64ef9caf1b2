"""Leave a WAL database's directory as a read-only command found it.

A read-only connection to a database in WAL mode creates the `-wal` and `-shm` files beside it
(it needs the shared-memory index to read), but cannot delete them when it closes: only the
last read-write connection to close checkpoints and removes them. So a command that only reads
notes which of the two existed before, and when neither did and they exist afterwards, opens and
closes one read-write connection that writes nothing: SQLite itself then removes them if no other
connection is using the database, and leaves them alone if one is (a live application's files
are never touched).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SUFFIXES = ("-wal", "-shm")


def present(db: Path | str) -> frozenset[str]:
    """Which of the database's -wal and -shm files exist now."""
    return frozenset(s for s in SUFFIXES if os.path.exists(f"{db}{s}"))


def tidy(db: Path | str, before: frozenset[str]) -> None:
    """Have SQLite remove the -wal/-shm files a read-only connection left, if none were there."""
    if before or not present(db):
        return
    uri = Path(db).resolve().as_uri() + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=0.1)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # best effort: a busy or read-only database keeps them, as SQLite decides
