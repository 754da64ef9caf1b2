"""The schema of chosen tables and views, cheaply: what ci.db.schema_changes compares.

The same reading as a fingerprint's schema part (ci.db.fingerprint_schema: `sqlite_master` rows,
`PRAGMA table_xinfo` / `index_list` / `index_info` / `foreign_key_list` in one statement), with
two differences that keep apply_empty fast: SQL is kept as SQLite stores it (normalised only
when two texts differ, which is rare), and importing this module costs nothing beyond sqlite3
(the fingerprint modules pull in dataclasses and hashlib, ~20 ms of every run's start).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import NamedTuple

# the runner's own tables (ci.db.bookkeeping.TABLE, LOG_TABLE): not the migrations' schema
EXCLUDED = frozenset({"schema_version", "schema_version_log"})


class Column(NamedTuple):
    name: str
    type: str
    notnull: int
    default: str | None
    pk: int
    hidden: int


class Index(NamedTuple):
    name: str
    unique: int
    origin: str
    partial: int
    columns: tuple[str | None, ...]


class ForeignKey(NamedTuple):
    columns: tuple[str, ...]
    table: str
    to: tuple[str | None, ...]
    on_update: str
    on_delete: str


class SchemaObject(NamedTuple):
    type: str
    name: str
    sql: str  # as stored in sqlite_master ("" for an automatic index)


class Shape(NamedTuple):
    """One table or view (a group, keyed by its lower-case name) with its indexes and triggers."""

    name: str
    objects: tuple[SchemaObject, ...]
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def kind(self) -> str:
        types = {o.type for o in self.objects}
        return "table" if "table" in types else "view" if "view" in types else "object"

    def sql_of(self, kind: str) -> str:
        return next((o.sql for o in self.objects if o.type == kind), "")


Rows = tuple[tuple[str, str, str, str], ...]


def read_shapes(
    conn: sqlite3.Connection,
    names: Iterable[str] | None,
    cache: dict[Rows, Shape],
    previous: Mapping[str, Shape] | None = None,
) -> dict[str, Shape]:
    """Shapes of the given groups (lower-case names; None: all). `cache` keeps each shape by its
    sqlite_master rows, of which the PRAGMAs are a pure function; `previous` (the groups as they
    were) spares the PRAGMAs whose answer cannot have changed."""
    query = "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master"
    params: list[str] = []
    if names is not None:
        params = sorted(names)
        if not params:
            return {}
        query += f" WHERE tbl_name COLLATE NOCASE IN ({', '.join('?' * len(params))})"
    found: dict[str, list[tuple[str, str, str, str]]] = {}
    for type_, name, tbl_name, sql in conn.execute(query, params):
        key = tbl_name.lower()
        if key in EXCLUDED or key.startswith("sqlite_"):
            continue
        found.setdefault(key, []).append((type_, name, tbl_name, sql))
    shapes: dict[str, Shape] = {}
    for key, rows in found.items():
        rows_key = tuple(sorted(rows))
        shape = cache.get(rows_key)
        if shape is None:
            before = previous.get(key) if previous is not None else None
            shape = cache[rows_key] = _shape(conn, rows, before)
        shapes[key] = shape
    return shapes


def _shape(
    conn: sqlite3.Connection, rows: list[tuple[str, str, str, str]], before: Shape | None
) -> Shape:
    """Read with simple PRAGMA statements (cheap to prepare again after each schema change,
    unlike one statement over the pragma functions), and only those whose answer may differ
    from `before`: the columns and foreign keys come from the table's SQL, the index list from
    it and the indexes' SQL (a new trigger changes nothing here)."""
    objects = tuple(sorted(SchemaObject(t, n, s) for t, n, _, s in rows if not _internal(n)))
    table = next((name for type_, name, _, _ in rows if type_ == "table"), None)
    if table is None:
        return Shape(rows[0][2], objects)
    sql = next(s for t, _, _, s in rows if t == "table")
    quoted = '"' + table.replace('"', '""') + '"'
    same_table = before is not None and before.name == table and before.sql_of("table") == sql
    if before is not None and same_table:
        columns, keys = before.columns, before.foreign_keys
    else:
        columns = tuple(Column(*row[1:7]) for row in conn.execute(f"PRAGMA table_xinfo({quoted})"))
        keys = _keys(conn.execute(f"PRAGMA foreign_key_list({quoted})").fetchall())
    # automatic indexes (UNIQUE, PRIMARY KEY) come from the table's SQL, the others from theirs
    if before is not None and same_table and _indexes_of(before) == _indexes_of(objects):
        indexes = before.indexes
    else:
        indexes = _indexes(conn, quoted)
    return Shape(table, objects, columns, indexes, keys)


def _indexes_of(objects: Shape | tuple[SchemaObject, ...]) -> tuple[SchemaObject, ...]:
    if isinstance(objects, Shape):
        objects = objects.objects
    return tuple(o for o in objects if o.type == "index")


def _indexes(conn: sqlite3.Connection, quoted: str) -> tuple[Index, ...]:
    found = []
    for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({quoted})"):
        index = '"' + name.replace('"', '""') + '"'
        columns = tuple(row[2] for row in conn.execute(f"PRAGMA index_info({index})"))
        found.append(Index(name, unique, origin, partial, columns))
    return tuple(sorted(found))


def _internal(name: str) -> bool:
    """An automatic index (sqlite_autoindex_...): described by index_list, not by SQL."""
    return name.startswith("sqlite_")


def _keys(rows_of_all: list[tuple[object, ...]]) -> tuple[ForeignKey, ...]:
    """ForeignKeys from foreign_key_list rows (id, seq, table, from, to, on_update, ...)."""
    by_id: dict[object, list[tuple[object, ...]]] = {}
    for row in rows_of_all:
        by_id.setdefault(row[0], []).append(row)
    keys = []
    for rows in by_id.values():
        rows.sort(key=lambda r: int(str(r[1])))
        keys.append(
            ForeignKey(
                tuple(str(r[3]) for r in rows),
                str(rows[0][2]),
                tuple(None if r[4] is None else str(r[4]) for r in rows),
                str(rows[0][5]),
                str(rows[0][6]),
            )
        )
    return tuple(sorted(keys))
