"""ci.db.impact_io: the pages a transaction changes, counted from its rollback journal, and what a
durable commit costs on this machine. Real SQLite files."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ci.core.model import discover
from ci.db.impact import Measurer
from ci.db.impact_io import CommitCost, Pages, commit_cost, io_clock
from ci.db.runner import connect
from tests.conftest import WriteTree

ROWS = 50  # one row per page: a blob of three quarters of a page each


def filled(path: Path) -> sqlite3.Connection:
    """A check's private copy (journal in memory, no fsync) of ROWS one-page rows."""
    conn = connect(path, durable=False)
    conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB)")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO big (b) VALUES (zeroblob(3000))", [()] * ROWS)
    conn.execute("COMMIT")
    return conn


def test_a_transaction_counts_the_pages_it_changes_and_adds(tmp_path: Path) -> None:
    conn = filled(tmp_path / "s.db")
    Pages.on_disk(conn)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "truncate"
    pages = Pages(conn)
    conn.execute("BEGIN IMMEDIATE")
    start = pages.now()
    conn.execute("UPDATE big SET b = zeroblob(2999) WHERE id <= 20")  # 20 leaves, their parent
    changed = pages.now() - start
    conn.execute("INSERT INTO big (b) SELECT zeroblob(3000) FROM big WHERE id <= 10")  # 10 more
    added = pages.now() - start - changed
    conn.execute("COMMIT")
    assert 20 <= changed <= 22
    assert 10 <= added <= 12
    assert pages.now() - start == 10  # committed: the journal is empty, the file 10 pages larger
    conn.close()


def test_with_the_journal_in_memory_only_the_growth_is_seen(tmp_path: Path) -> None:
    conn = filled(tmp_path / "s.db")
    pages = Pages(conn)
    conn.execute("BEGIN IMMEDIATE")
    start = pages.now()
    conn.execute("UPDATE big SET b = zeroblob(2999)")
    assert pages.now() == start
    conn.execute("COMMIT")
    conn.close()


def test_a_durable_commit_has_a_fixed_cost_and_a_cost_per_page(tmp_path: Path) -> None:
    cost = commit_cost(tmp_path)
    assert cost.seconds > 0 and cost.per_page >= 0  # their sizes are this machine's
    assert (tmp_path / "commit-probe.db").exists()  # in the directory given, nowhere else
    assert CommitCost(0.01, 0.001).of(100) == 0.01 + 0.1
    assert CommitCost(0.01).of(-5) == 0.01  # no negative pages


def test_the_commit_clock_keeps_the_time_spent_blocked() -> None:
    # a wait for the disk is the commit's own time; only a wait for a CPU is not (not
    # something a test can cause on demand)
    started = io_clock()
    time.sleep(0.05)
    assert io_clock() - started >= 0.045


def test_the_samples_statements_are_timed_in_cpu_time(write_tree: WriteTree) -> None:
    """A statement's time on the sample is the work it does, not the time it waited: a wall
    clock there measures whatever else the CI machine runs."""
    root = write_tree({"m/data/0001_nap.sql": "UPDATE big SET b = nap(b) WHERE id = 1;\n"})
    conn = filled(root / "s.db")
    conn.create_function("nap", 1, lambda x: time.sleep(0.2) or x)
    (migration,) = discover(root / "m").main
    (statement,) = Measurer(conn).run(migration).statements
    assert statement.changes == 1
    assert statement.seconds < 0.1  # slept 0.2 s, worked far less
    conn.close()
