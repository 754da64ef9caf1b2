"""Whether a migration is certainly still not applied when its write transaction begins, so the
runner need not ask `schema_version` (a query re-prepared after every migration's DDL: ~60k
instructions, 2.5% of a durable run of 1,000 migrations).

Certain means: it was pending when the run's list was read, no other connection has committed
since (PRAGMA data_version, read inside the write transaction, when none can commit), and this
connection has changed nothing since but by applying the list's migrations (its total_changes,
taken after each commit). Anything else and the runner asks the table, as it always did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ci.core.model import Migration


class Unapplied:
    """The run's pending migrations not applied yet, and what the database was when read."""

    __slots__ = ("data_version", "keys", "total_changes")

    def __init__(
        self, conn: sqlite3.Connection, pending: Iterable[Migration], data_version: int
    ) -> None:
        self.data_version = data_version  # before the applied rows were read
        self.total_changes = conn.total_changes  # this connection's own changes until now
        self.keys = {(m.track, m.version) for m in pending}

    def certain(
        self, conn: sqlite3.Connection, data_version: int, track: str, version: int
    ) -> bool:
        """Whether (track, version) is certainly not applied, `data_version` read now, inside
        the migration's write transaction. Once anything else has changed the database, never
        again in this run: from then on every migration asks the table."""
        if data_version != self.data_version or conn.total_changes != self.total_changes:
            self.keys.clear()
        return (track, version) in self.keys

    def applied(self, conn: sqlite3.Connection, track: str, version: int) -> None:
        """Its transaction committed: out of the list, and this connection's changes so far
        were the list's."""
        self.keys.discard((track, version))
        self.total_changes = conn.total_changes
