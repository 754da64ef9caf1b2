"""The data part of a fingerprint: a table's row count, a hash of its content and of its rowid
values, and its AUTOINCREMENT counter, streamed in batches (never the whole table at once).
"""

from __future__ import annotations

import hashlib
import sqlite3

from ci.db.fingerprint_records import Column, SchemaObject, TablePrint

BATCH = 512
# the names SQLite accepts for the rowid, unless a column has taken them all
ROWID_NAMES = ("rowid", "_rowid_", "oid")


def is_virtual(objects: tuple[SchemaObject, ...]) -> bool:
    return any(o.type == "table" and o.sql.startswith("create virtual") for o in objects)


def with_data(conn: sqlite3.Connection, shape: TablePrint, content: bool | None) -> TablePrint:
    """The group with its row count (and content hash, rowid hash and AUTOINCREMENT counter
    when `content`) read now."""
    if content is None or not shape.columns:  # no table in the group (a view, or objects only)
        return shape
    rowids = sequence = None
    if content and not is_virtual(shape.objects):
        rows, digest, rowids = _content(conn, shape)
        sequence = _sequence(conn, shape)
    else:
        (rows,) = conn.execute(f"SELECT count(*) FROM {quote(shape.name)}").fetchone()
        digest = None
    if (rows, digest, rowids, sequence) == shape[5:9]:
        return shape  # unchanged: the same object (compared by identity first)
    return TablePrint(*shape[:5], rows, digest, rowids, sequence)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_sql(shape: TablePrint) -> str:
    """The table's normalised CREATE TABLE statement ('' when the group has none)."""
    return next((o.sql for o in shape.objects if o.type == "table"), "")


def rowid_name(shape: TablePrint) -> str | None:
    """The name to read the rowid by when no column holds its values; None when a column does
    (an INTEGER PRIMARY KEY is the rowid: hashing it twice would only cost), when there is no
    rowid (WITHOUT ROWID), or when columns have taken all three of its names."""
    sql = table_sql(shape)
    if "without rowid" in sql.rsplit(")", 1)[-1]:
        return None
    keys = [c for c in shape.columns if c.pk]
    # `id INTEGER PRIMARY KEY DESC` is SQLite's one INTEGER PRIMARY KEY that is not the rowid
    if len(keys) == 1 and keys[0].type.upper() == "INTEGER" and "primary key desc" not in sql:
        return None
    taken = {c.name.lower() for c in shape.columns}
    return next((name for name in ROWID_NAMES if name not in taken), None)


def _content(conn: sqlite3.Connection, shape: TablePrint) -> tuple[int, str, str | None]:
    """Row count, a hash of every row and a hash of the rowid values (None when a column holds
    them), streamed in batches (never the whole table at once).

    Rows are read in rowid order; WITHOUT ROWID tables in the order of all their columns. A
    rebuild that copies the rows without their rowid renumbers them (1, 3, 4 -> 1, 2, 3): same
    content, other rowids.
    """
    table, rowid = quote(shape.name), rowid_name(shape)
    try:
        if rowid is not None:
            cursor = conn.execute(f"SELECT {rowid}, * FROM {table} ORDER BY {rowid}")
        else:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
    except sqlite3.OperationalError:  # WITHOUT ROWID: there is no rowid to order by
        rowid = None
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {_all_columns(shape.columns)}")
    digest = hashlib.blake2b(digest_size=16)
    ids = hashlib.blake2b(digest_size=16) if rowid is not None else None
    count = 0
    while True:
        batch = cursor.fetchmany(BATCH)
        if batch:
            count += len(batch)
            if ids is None:
                digest.update(repr(batch).encode())
            else:  # by column: zip splits the rowids off in C, not a slice per row
                columns = list(zip(*batch, strict=True))
                ids.update(repr(columns[0]).encode())
                digest.update(repr(columns[1:]).encode())
        if len(batch) < BATCH:  # the last batch: no second fetch to learn that it was
            return count, digest.hexdigest(), None if ids is None else ids.hexdigest()


def _all_columns(columns: tuple[Column, ...]) -> str:
    return ", ".join(str(i + 1) for i in range(sum(c.hidden != 1 for c in columns) or 1))


def _sequence(conn: sqlite3.Connection, shape: TablePrint) -> int | None:
    """The AUTOINCREMENT counter of the table (0 before its first row); None without
    AUTOINCREMENT."""
    if "autoincrement" not in table_sql(shape):
        return None
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (shape.name,))
        found = row.fetchone()
    except sqlite3.OperationalError:  # the word in a string, not a keyword: no sqlite_sequence
        return None
    return int(found[0]) if found else 0
