"""What a commit costs on this machine, and how many pages each statement of the sample makes
its commit write: what the production-impact estimate adds to the sample's statement times
(ci.db.impact measures, ci.checks.impact_model scales).

A commit in the rollback journal, the runner's mode for a production database, waits for the
disk a few times (fsync of the journal, then of the database) and writes every page the
transaction changed: its old content to the journal as it is changed, its new content to the
database at the commit. The sample's copy commits without fsync, so the commit is not in its
times: `commit_cost` measures it on a scratch database (on `io_clock`), a fixed part and a part
per page, and
`Pages` counts the pages on the sample (its journal is a file: one record per page changed).
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path

from ci.db.connection import connect

PROBES = 5  # commits of each kind, median: one fsync on a shared machine takes 1-60 ms
PROBE_PAGES = 256  # pages the large probe commit changes: about 1 MiB at 4 KiB pages
SCHEDSTAT = Path("/proc/thread-self/schedstat")  # Linux: ns on a CPU, ns waiting for one, ...


def io_clock() -> float:
    """Seconds of a wall clock that stops while this thread waits for a CPU (on Linux; elsewhere
    the wall clock): a commit's time is its own work and its waits for the disk, not the other
    processes of a loaded CI machine. Measured with 8 checks on 2 cores: an fsync of 10 ms on
    the wall clock was 1 ms of disk and 9 ms of waiting for a CPU after it."""
    try:
        waited = int(SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        waited = 0.0
    return time.perf_counter() - waited


class CommitCost:
    """One durable commit: `seconds` whatever it writes, plus `per_page` for each page."""

    __slots__ = ("per_page", "seconds")

    def __init__(self, seconds: float = 0.0, per_page: float = 0.0) -> None:
        self.seconds = seconds
        self.per_page = per_page

    def of(self, pages: float) -> float:
        return self.seconds + self.per_page * max(pages, 0.0)


class Pages:
    """The pages a connection's open transaction has changed so far, as a counter to take the
    difference of: the records of its rollback journal (one per page changed that existed
    before, page size + 8 bytes; the journal's header is smaller than one) plus the pages the
    file has grown by. Needs the journal in a file (`on_disk`); in memory, only the growth."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        self.record = page_size + 8
        main = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
        self.journal = Path(f"{main[0]}-journal") if main and main[0] else None

    @staticmethod
    def on_disk(conn: sqlite3.Connection) -> None:
        """A check's private copy keeps its journal in memory; in a file (still without fsync)
        the pages each commit writes can be counted, and the sample's statements write their
        journal as production's do."""
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "memory":
            conn.execute("PRAGMA journal_mode = TRUNCATE")

    def now(self) -> int:
        grown = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        if self.journal is None:
            return grown
        try:
            return self.journal.stat().st_size // self.record + grown
        except FileNotFoundError:  # no transaction open (DELETE mode removes it at commit)
            return grown


def commit_cost(directory: Path) -> CommitCost:
    """A durable commit on this machine, on a scratch database in `directory` opened as the
    runner opens a production database: median of PROBES commits of one page (the fixed part)
    and of PROBES commits of PROBE_PAGES pages (the part per page is the difference)."""
    conn = connect(directory / "commit-probe.db")
    try:
        size = int(conn.execute("PRAGMA page_size").fetchone()[0]) * 3 // 4  # a row per page
        conn.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY, b BLOB)")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO probe (b) VALUES (zeroblob(?))", [(size,)] * PROBE_PAGES)
        conn.execute("COMMIT")
        pages = Pages(conn)
        one, many, written = [], [], []
        rewrite = "UPDATE probe SET b = zeroblob(?) WHERE n <= ?"
        for n in range(PROBES):
            # in place, as a migration's UPDATE: a commit that grows the file also writes the
            # file system's metadata, which made the one-page commit 5-10 times dearer
            one.append(_commit(conn, pages, rewrite, (size - n % 2, 1))[0])
            seconds, changed = _commit(conn, pages, rewrite, (size - n % 2, PROBE_PAGES))
            many.append(seconds)
            written.append(changed)
    finally:
        conn.close()
    fixed = statistics.median(one)
    extra = statistics.median(many) - fixed
    per_page = max(extra, 0.0) / max(statistics.median(written) - 1, 1)
    return CommitCost(fixed, per_page)


def _commit(
    conn: sqlite3.Connection, pages: Pages, sql: str, params: tuple[int, ...]
) -> tuple[float, int]:
    """(seconds of the COMMIT, pages the transaction changed)."""
    conn.execute("BEGIN IMMEDIATE")
    before = pages.now()
    conn.execute(sql, params)
    changed = pages.now() - before
    started = io_clock()
    conn.execute("COMMIT")
    return io_clock() - started, changed
