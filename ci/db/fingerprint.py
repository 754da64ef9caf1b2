"""Schema and data fingerprints of a SQLite database, and what differs between two, in words.

A fingerprint maps each *group* (a table or view, keyed by its lower-case name) to a `TablePrint`:
the `sqlite_master` objects that belong to it (the table, its indexes and triggers) with normalised
SQL, `PRAGMA table_xinfo` / `index_list` / `index_info` / `foreign_key_list`, and the table's row
count, content hash, rowid hash and AUTOINCREMENT counter; beside the groups, the header pragmas
and the tables ANALYZE has statistics for. The runner's own tables and SQLite's internal ones are
left out as groups.

The entry points are here (`fingerprint`, `schema_fingerprint`, `Tracker`, `describe_differences`);
the parts live beside it: ci.db.fingerprint_records (the records), ci.db.fingerprint_schema and
ci.db.fingerprint_data (reading a database), ci.db.fingerprint_tracker (keeping one current while
migrations run), ci.db.fingerprint_diff (differences in words).

Fingerprints take a connection; they never open one (only the runner does).
"""

from __future__ import annotations

import sqlite3

from ci.db.fingerprint_diff import (
    DRIFT,
    REAPPLY,
    ROLLBACK,
    Wording,
    describe_differences,
    row_counts,
    rows,
)
from ci.db.fingerprint_records import (
    HEADER_PRAGMAS,
    Column,
    Fingerprint,
    ForeignKey,
    Index,
    SchemaObject,
    TablePrint,
)
from ci.db.fingerprint_schema import (
    EXCLUDED_GROUPS,
    Rows,
    normalise_sql,
    read_groups,
    read_header,
    read_statistics,
)
from ci.db.fingerprint_tracker import Tracker

__all__ = [
    "DRIFT",
    "EXCLUDED_GROUPS",
    "HEADER_PRAGMAS",
    "REAPPLY",
    "ROLLBACK",
    "Column",
    "Fingerprint",
    "ForeignKey",
    "Index",
    "Rows",
    "SchemaObject",
    "TablePrint",
    "Tracker",
    "Wording",
    "describe_differences",
    "fingerprint",
    "normalise_sql",
    "read_groups",
    "read_header",
    "read_statistics",
    "row_counts",
    "rows",
    "schema_fingerprint",
]


def fingerprint(conn: sqlite3.Connection, *, content: bool = True) -> Fingerprint:
    """The whole fingerprint of a database (schema, row counts, and content hashes, rowids,
    AUTOINCREMENT counters and ANALYZE statistics if asked, header pragmas)."""
    statistics = read_statistics(conn) if content else None
    return Fingerprint(read_groups(conn, None, content=content), read_header(conn), statistics)


def schema_fingerprint(conn: sqlite3.Connection) -> Fingerprint:
    """The schema part only: no row counts, no header (a snapshot has none to compare)."""
    return Fingerprint(read_groups(conn, None, content=None))
