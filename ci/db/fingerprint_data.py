"""The data part of a fingerprint: a table's row count and a hash of its content, streamed in
batches (never the whole table at once).
"""

from __future__ import annotations

import hashlib
import sqlite3

from ci.db.fingerprint_records import Column, SchemaObject, TablePrint

BATCH = 512


def is_virtual(objects: tuple[SchemaObject, ...]) -> bool:
    return any(o.type == "table" and o.sql.startswith("create virtual") for o in objects)


def with_data(conn: sqlite3.Connection, shape: TablePrint, content: bool | None) -> TablePrint:
    """The group with its row count (and content hash when `content`) read now."""
    if content is None or not shape.columns:  # no table in the group (a view, or objects only)
        return shape
    if content and not is_virtual(shape.objects):
        rows, digest = _content(conn, shape.name, shape.columns)
    else:
        (rows,) = conn.execute(f"SELECT count(*) FROM {quote(shape.name)}").fetchone()
        digest = None
    if rows == shape.rows and digest == shape.digest:
        return shape  # unchanged: the same object (compared by identity first)
    return TablePrint(*shape[:5], rows, digest)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _content(conn: sqlite3.Connection, table: str, columns: tuple[Column, ...]) -> tuple[int, str]:
    """Row count and a hash of every row, streamed in batches (never the whole table at once).

    Rows are read in rowid order; WITHOUT ROWID tables in the order of all their columns.
    """
    try:
        cursor = conn.execute(f"SELECT * FROM {quote(table)} ORDER BY rowid")
    except sqlite3.OperationalError:  # WITHOUT ROWID: there is no rowid to order by
        order = ", ".join(str(i + 1) for i in range(sum(c.hidden != 1 for c in columns) or 1))
        cursor = conn.execute(f"SELECT * FROM {quote(table)} ORDER BY {order}")
    digest = hashlib.blake2b(digest_size=16)
    count = 0
    while True:
        batch = cursor.fetchmany(BATCH)
        if batch:
            count += len(batch)
            digest.update(repr(batch).encode())
        if len(batch) < BATCH:  # the last batch: no second fetch to learn that it was
            return count, digest.hexdigest()
