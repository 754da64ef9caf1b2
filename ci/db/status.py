"""`ci.migrate --status`: what a database says about its migrations, read without changing it
(ci.reports.status writes it as text).

Applied rows with the state of each one's file (its hash matches, it was edited, it is gone),
what is pending, the open dirty marks and what to do about each, and with --detect which pending
migrations look applied already (ci.db.baseline).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ci.core.findings import Record
from ci.core.model import Catalog, Migration
from ci.core.statcache import StatCache
from ci.db import bookkeeping
from ci.db.bookkeeping import AppliedRow, DirtyMark
from ci.db.connection import reading
from ci.db.dirty import dirty_message
from ci.db.drift import EDITED, REUSED, hash_state

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from ci.db.baseline import Step


class Detection(Record):
    """--detect: each pending main-track migration compared with the database (Step), the
    failure that stopped the comparison, and those that look applied already."""

    FIELDS = ("steps", "failure", "looks_applied", "any_applied")
    __slots__ = FIELDS

    def __init__(
        self,
        steps: Sequence[Step],
        failure: str | None,
        looks_applied: Sequence[Step],
        any_applied: bool,
    ) -> None:
        self.steps = steps
        self.failure = failure
        self.looks_applied = looks_applied
        self.any_applied = any_applied


class Status(Record):
    """What the database says. `rows` is None when there is no database yet; `states` says for
    each row whether its file is as applied; `dirty` is one line per open dirty mark;
    `detection` is None when --detect was not asked or there is no database to compare;
    `problems`: the catalog's numbers used twice (a run refuses them); `marks`: the open dirty
    marks themselves (for --format json)."""

    FIELDS = ("db", "catalog", "rows", "states", "pending", "dirty", "detect", "detection")
    __slots__ = (*FIELDS, "marks", "problems")

    def __init__(
        self,
        db: Path | str,  # a file, or a PostgreSQL database's URL without its password
        catalog: Catalog,
        rows: list[AppliedRow] | None,
        states: list[str],
        pending: list[Migration],
        dirty: list[str],
        detect: bool,
        detection: Detection | None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.rows = rows
        self.states = states
        self.pending = pending
        self.dirty = dirty
        self.detect = detect
        self.detection = detection
        # numbers used twice, which a run refuses: found once, shown and counted
        self.problems = catalog.duplicate_numbers()
        self.marks: list[DirtyMark] = []

    @property
    def found_problems(self) -> bool:
        """An edited applied file (or a reused number), an open dirty mark or a number used
        twice."""
        return (
            bool(self.dirty)
            or any(state.startswith((EDITED, REUSED)) for state in self.states)
            or bool(self.problems)
        )


def read_status(
    db: Path,
    catalog: Catalog,
    *,
    setup: str | None,
    busy_timeout: float,
    detect: bool,
    hashes: StatCache | None = None,
) -> Status:
    """The status of `db` (opened read-only; nothing is written, no -wal/-shm left behind).
    `hashes`: the stat cache that may vouch for applied files (ci.core.statcache)."""
    if not db.exists():
        return Status(db, catalog, None, [], catalog.main + catalog.seeds, [], detect, None)
    with reading(db, setup=setup, timeout=busy_timeout) as conn:
        rows = bookkeeping.read_applied(conn)
        marks = bookkeeping.open_marks(conn)
        detection = _detect(conn, catalog, rows, setup) if detect else None
    files = {(m.track, m.version): m for m in catalog.all_migrations()}
    states = [hash_state(row, files.get((row.track, row.version)), hashes) for row in rows]
    if hashes is not None:
        hashes.save()
    done = {(r.track, r.version) for r in rows}
    pending = [m for m in catalog.all_migrations() if (m.track, m.version) not in done]
    dirty = [dirty_message(mark, str(db)) for mark in marks]
    status = Status(db, catalog, rows, states, pending, dirty, detect, detection)
    status.marks = marks
    return status


def _detect(
    conn: sqlite3.Connection, catalog: Catalog, rows: list[AppliedRow], setup: str | None
) -> Detection:
    from ci.db.baseline import detect, looks_applied  # only --detect needs it (start-up time)

    steps, failure = detect(conn, catalog, setup=setup)
    any_applied = any(r.track == "main" for r in rows)
    return Detection(steps, failure, looks_applied(steps), any_applied)
