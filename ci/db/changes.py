"""Whether a database may have changed since a mark was taken, and the runner's applied rows,
read again only then: a run asks for them several times (preflight, the plan line, the end
line), and reading a thousand rows costs more than the rest of a no-op run's database work.
"""

from __future__ import annotations

import sqlite3

from ci.db import bookkeeping
from ci.db.records import AppliedRow

Mark = tuple[int, int, int]


def change_mark(conn: sqlite3.Connection) -> Mark | None:
    """What moves whenever the database's content may have: a commit by another connection
    (PRAGMA data_version), a row changed by this one (total_changes, which a rollback does not
    take back: the mark still moves) or a schema change (the schema cookie). None inside a
    transaction, whose reads may yet be rolled back."""
    if conn.in_transaction:
        return None
    other = conn.execute("PRAGMA data_version").fetchone()[0]
    schema = conn.execute("PRAGMA schema_version").fetchone()[0]
    return (int(other), conn.total_changes, int(schema))


class AppliedRows:
    """bookkeeping.read_applied of one connection, kept while its change mark stands."""

    __slots__ = ("_mark", "_rows")

    def __init__(self) -> None:
        self._mark: Mark | None = None
        self._rows: list[AppliedRow] = []

    def read(self, conn: sqlite3.Connection) -> list[AppliedRow]:
        mark = change_mark(conn)
        if mark is None or mark != self._mark:
            self._rows = bookkeeping.read_applied(conn)
            self._mark = mark
        return list(self._rows)  # a copy: a caller's change never reaches the next caller
