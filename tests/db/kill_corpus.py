"""The kill corpus: a tree of migrations (a big table, copies of it, a `@batch` backfill with
`@progress`, a migration after it and a seed) with the checks a database must pass after a run of
`python -m ci.migrate` on it was killed at any moment, for test_kill_trials.py; `launch` starts
the runs of test_runner_kill.py too.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import MIGRATIONS, REPO, query, tree

ROWS = 1000
TABLES = 4
BATCH_VERSION = TABLES + 2
LAST = BATCH_VERSION + 1


def corpus() -> dict[str, str | bytes]:
    spec: dict[str, str | bytes] = {
        "schema/0001_items.sql": (
            "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT);\n"
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
            f"{ROWS})\nINSERT INTO items (id) SELECT i FROM n;\n"
        )
    }
    for n in range(2, TABLES + 2):
        spec[f"schema/{n:04d}_copy{n}.sql"] = (
            f"CREATE TABLE copy{n} (id INTEGER);\nINSERT INTO copy{n} SELECT id FROM items;\n"
        )
    spec[f"data/{BATCH_VERSION:04d}_label.sql"] = (
        "-- @batch 10\n"
        "-- @progress SELECT count(*) FROM items WHERE label IS NULL\n"
        "UPDATE items SET label = 'L' || id\n"
        " WHERE id IN (SELECT id FROM items WHERE label IS NULL LIMIT :batch_size);\n"
    )
    spec[f"schema/{LAST:04d}_after.sql"] = "CREATE TABLE after_batch (x);\n"
    spec["seed/0001_defaults.sql"] = "INSERT OR IGNORE INTO items (id, label) VALUES (0, 'seed');\n"
    return tree(spec)


def launch(db: Path, root: Path, *args: str) -> subprocess.Popen[str]:
    """`python -m ci.migrate --db db` on the tree at root, as a process to wait for or kill."""
    # dozens of runs: let them share compiled bytecode (kept out of the repository)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root.parent / "pycache")
    command = [sys.executable, "-m", "ci.migrate", "--db", str(db)]
    command += ["--migrations-dir", str(root / MIGRATIONS), *args]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def tables(db: Path) -> set[str]:
    return {str(r[0]) for r in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def assert_all_or_nothing(db: Path) -> bool:
    """Check every migration is applied+recorded or absent; return whether the db is dirty."""
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    present = tables(db)
    if "schema_version" not in present:
        assert present <= {"schema_version_log", "items"} and "items" not in present
        return False
    recorded = {
        int(str(v))
        for (v,) in query(db, "SELECT version FROM schema_version WHERE migration_type != 'seed'")
    }
    assert recorded == set(range(1, len(recorded) + 1)), recorded  # a prefix, in order
    assert ("items" in present) == (1 in recorded)
    if 1 in recorded:
        assert query(db, "SELECT count(*) FROM items WHERE id > 0") == [(ROWS,)]
    for n in range(2, TABLES + 2):
        assert (f"copy{n}" in present) == (n in recorded), n
        if n in recorded:
            assert query(db, f"SELECT count(*) FROM copy{n}") == [(ROWS,)]
    marks = query(
        db,
        "SELECT version, rows_affected FROM schema_version_log "
        "WHERE action = 'dirty' AND cleared_at IS NULL",
    )
    labelled = (
        query(db, "SELECT count(*) FROM items WHERE id > 0 AND label IS NOT NULL")
        if "items" in present
        else []
    )
    if BATCH_VERSION in recorded:
        assert labelled == [(ROWS,)] and marks == []
    elif 1 in recorded:
        done = int(str(marks[0][1])) if marks else 0
        assert labelled == [(done,)]  # exactly the batches the mark says were committed
    assert ("after_batch" in present) == (LAST in recorded)
    seeded = query(db, "SELECT count(*) FROM schema_version WHERE migration_type = 'seed'")
    assert seeded in ([(0,)], [(1,)])
    if seeded == [(1,)]:  # seeds run only after the main track reached its head
        assert LAST in recorded and query(db, "SELECT label FROM items WHERE id = 0") == [("seed",)]
    elif "items" in present:
        assert query(db, "SELECT count(*) FROM items WHERE id = 0") == [(0,)]
    return bool(marks)


def assert_complete(db: Path) -> None:
    assert not assert_all_or_nothing(db)
    assert query(db, "SELECT max(version) FROM schema_version WHERE migration_type != 'seed'") == [
        (LAST,)
    ]
    assert query(db, "SELECT count(*) FROM items WHERE label = 'L' || id") == [(ROWS,)]


def wait_for_batch_rows(db: Path, proc: subprocess.Popen[str], rows: int) -> None:
    """Return with the run STOPPED (SIGSTOP) while the batch's dirty mark says at least `rows`
    are done, or when the run has ended. Each look is taken with the run stopped, so a loaded
    machine cannot let the whole batch slip by between two looks; the caller kills it."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        proc.send_signal(signal.SIGSTOP)
        if _batch_rows_done(db) >= rows:
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.001)


def _batch_rows_done(db: Path) -> int:
    """Rows done by the open dirty mark, read without waiting for a lock; -1 when none."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0)
    except sqlite3.Error:
        return -1
    try:
        row = conn.execute(
            "SELECT rows_affected FROM schema_version_log "
            "WHERE action = 'dirty' AND cleared_at IS NULL"
        ).fetchone()
    except sqlite3.Error:
        return -1  # the file or the tables are not there yet, or the run holds the lock
    finally:
        conn.close()
    return -1 if row is None else int(row[0] or 0)
