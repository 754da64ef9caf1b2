"""The schema of chosen tables and views, cheaply: what ci.db.schema_changes compares.

The same reading as a fingerprint's schema part (ci.db.fingerprint_schema: `sqlite_master` rows,
`PRAGMA table_xinfo` / `index_list` / `index_info` / `foreign_key_list` in one statement), with
two differences that keep apply_empty fast: SQL is kept as SQLite stores it (normalised only
when two texts differ, which is rare), and importing this module costs nothing beyond sqlite3
(the fingerprint modules pull in dataclasses and hashlib, ~20 ms of every run's start).
"""

from __future__ import annotations

import re
import sqlite3
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from typing import NamedTuple

# re-exported: the analysis's modules import the records from here
from ci.core.sqltext import LazyPattern
from ci.db.table_records import Column as Column
from ci.db.table_records import ForeignKey as ForeignKey
from ci.db.table_records import Index as Index
from ci.db.table_records import SchemaObject as SchemaObject
from ci.db.table_records import foreign_keys

# the runner's own tables (ci.db.bookkeeping.TABLE, LOG_TABLE): not the migrations' schema
EXCLUDED = frozenset({"schema_version", "schema_version_log"})

_VIRTUAL = LazyPattern(r"\s*CREATE\s+VIRTUAL\b", re.IGNORECASE)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """An identifier as SQLite compares it: only ASCII letters fold ("Ärzte" and "ärzte" are
    two tables), unlike str.lower() (the same on an ASCII name, and much cheaper than translate:
    most names are ASCII)."""
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


class Shape(NamedTuple):
    """One table or view (a group, keyed by its name folded (`fold`)) with its indexes and triggers.

    `read`: whether columns, indexes and foreign keys were read (PRAGMAs); a table's shape is
    first only its sqlite_master objects, and read when a comparison needs more (most
    migrations create a table or an index, or add a column, which the SQL says)."""

    name: str
    objects: tuple[SchemaObject, ...]
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    read: bool = True

    @property
    def kind(self) -> str:
        types = {o.type for o in self.objects}
        return "table" if "table" in types else "view" if "view" in types else "object"

    def sql_of(self, kind: str) -> str:
        return next((o.sql for o in self.objects if o.type == kind), "")


Objects = tuple[SchemaObject, ...]


Row = tuple[str, str, str, str]  # type, name, tbl_name, sql ("" for none)

_COLUMNS = "type, name, tbl_name, coalesce(sql, '')"


def read_shapes(
    conn: sqlite3.Connection, names: Iterable[str] | None, cache: dict[Objects, Shape]
) -> dict[str, Shape]:
    """The groups named (lower-case; None: all) as their sqlite_master objects. `cache` gives
    back the shape already read for the same objects (the PRAGMAs are a pure function of them)."""
    query = f"SELECT {_COLUMNS} FROM sqlite_master"
    params: list[str] = []
    if names is not None:
        params = sorted(names)
        if not params:
            return {}
        query += f" WHERE tbl_name COLLATE NOCASE IN ({', '.join('?' * len(params))})"
    found: dict[str, list[Row]] = {}
    for row in conn.execute(query, params):
        found.setdefault(fold(row[2]), []).append(row)
    return _shapes(found, cache)


class SchemaRows:
    """sqlite_master's rows as last read, by group (lower-case tbl_name) and rowid, so that
    reading a few groups again is a few rowid look-ups instead of a scan of the whole schema
    (~50M instructions of apply_empty on 1,000 migrations, 190 tables).

    A group's rows change in place (ALTER TABLE rewrites the row's SQL, same rowid) or go. A
    new row takes max(rowid) + 1 of the rows present when it is inserted, which is not always
    above the highest rowid ever read: once the highest rows are dropped, the next object
    takes one of their rowids, or one freed long before. The groups a migration did not name
    are all present throughout it, so every row it adds is above the highest of *their*
    rowids: `refresh(names)` reads the named groups' known rowids and everything above that.
    A rename moves rows between groups: after one, `refresh(None)` reads them all; so does
    the refresh after `renumbered()` (VACUUM writes every row again under a new rowid)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.groups: dict[str, dict[int, Row]] = {}
        self.rowids: list[int] = []  # of the rows kept, ascending: the highest is the last
        self.stale = False  # the rowids kept may be other rows' now (see renumbered)
        self.refresh(None)

    def renumbered(self) -> None:
        """The rowids kept may be other rows' now (a VACUUM writes sqlite_master afresh:
        tables, then indexes, then views and triggers): the next refresh reads every row."""
        self.stale = True

    def refresh(self, names: Iterable[str] | None) -> set[str]:
        """Read again the groups named (None: the whole schema) and every row added since;
        returns the groups read (those named among them, also when they are gone)."""
        query = f"SELECT rowid, {_COLUMNS} FROM sqlite_master"
        named = set(names or ())
        if names is None or self.stale:
            self.groups, self.rowids, self.stale = {}, [], False
            return named | self._add(self.conn.execute(query))
        known = [rowid for name in named for rowid in self.groups.pop(name, ())]
        rowids = self.rowids
        for rowid in known:  # mostly the newest rows: near the end of the list
            del rowids[bisect_left(rowids, rowid)]
        above = rowids[-1] if rowids else 0  # the highest row of the groups not named
        # one statement, not a look-up per kind of row: each is prepared again after every
        # schema change (measured: ~70M instructions less of apply_empty on 1,000 migrations)
        if known:
            marks = ", ".join("?" * len(known))
            where = f"rowid > ? OR rowid IN ({marks})"
            return named | self._add(self.conn.execute(f"{query} WHERE {where}", (above, *known)))
        # most migrations only add rows: no known rowid to read again
        return named | self._add(self.conn.execute(f"{query} WHERE rowid > ?", (above,)))

    def _add(self, rows: Iterable[tuple[int, str, str, str, str]]) -> set[str]:
        """Keep the rows read: none is kept already (each is a named group's, whose rows were
        let go, or above every row kept)."""
        groups, rowids = self.groups, self.rowids
        read = set()
        for row in rows:
            rowid, key = row[0], fold(row[3])
            group = groups.get(key)
            if group is None:
                group = groups[key] = {}
            group[rowid] = row[1:]
            read.add(key)
            insort(rowids, rowid)
        return read

    def shapes(self, names: Iterable[str] | None, cache: dict[Objects, Shape]) -> dict[str, Shape]:
        """The groups named (None: all) as read by the last refresh."""
        keys = self.groups if names is None else names
        found = {
            key: [rows[r] for r in sorted(rows)] for key in keys if (rows := self.groups.get(key))
        }
        return _shapes(found, cache)


def _shapes(found: dict[str, list[Row]], cache: dict[Objects, Shape]) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for key, rows in found.items():
        if key in EXCLUDED or key.startswith("sqlite_"):
            continue
        # tuple.__new__: a NamedTuple's own __new__ is a Python call per object
        objects = tuple(
            sorted(_new(SchemaObject, (t, n, s)) for t, n, _, s in rows if not _internal(n))
        )
        shape = cache.get(objects)
        if shape is None:
            table = next((name for type_, name, _, _ in rows if type_ == "table"), None)
            shape = Shape(table or rows[0][2], objects, read=table is None)
        shapes[key] = shape
    return shapes


def read_now(conn: sqlite3.Connection, shape: Shape, cache: dict[Objects, Shape]) -> Shape:
    """`shape` with its columns, indexes and foreign keys, from `conn`, whose schema it is now."""
    if shape.read:
        return shape
    quoted = '"' + shape.name.replace('"', '""') + '"'
    columns = tuple(Column(*row[1:7]) for row in conn.execute(f"PRAGMA table_xinfo({quoted})"))
    keys = _keys(conn.execute(f"PRAGMA foreign_key_list({quoted})").fetchall())
    read = Shape(shape.name, shape.objects, columns, _indexes(conn, quoted), keys)
    cache[shape.objects] = read
    return read


def read_apart(shape: Shape, cache: dict[Objects, Shape]) -> Shape:
    """`shape` read on a scratch in-memory database made of its table's and indexes' SQL (a
    schema the database had before the migration just run). SQL that SQLite refuses to run
    there (a collation or function only the --setup connection has) is loaded the way SQLite
    loads a schema, which does not look them up. Raises CannotRun when even that fails: a
    shape left unread would hide a dropped column."""
    if shape.read or shape.objects in cache:
        return cache.get(shape.objects, shape)
    try:
        return _read_scratch(shape, cache, _run_sql)
    except sqlite3.Error:
        pass
    try:
        return _read_scratch(shape, cache, _load_sql)
    except sqlite3.Error as error:
        if _VIRTUAL.match(shape.sql_of("table")):
            return shape  # a module only --setup loads: its SQL is compared instead
        from ci.db.outcomes import CannotRun  # imported here: needed only on this rare path

        raise CannotRun(
            f"cannot compare table {shape.name} with its schema before the migration: {error}"
        ) from None


def _read_scratch(
    shape: Shape,
    cache: dict[Objects, Shape],
    build: Callable[[sqlite3.Connection, SchemaObject, str], None],
) -> Shape:
    scratch = sqlite3.connect(":memory:")
    try:
        for kind in ("table", "index"):
            for obj in shape.objects:
                if obj.type == kind and obj.sql:
                    build(scratch, obj, shape.name)
        return read_now(scratch, shape, cache)
    finally:
        scratch.close()


def _run_sql(scratch: sqlite3.Connection, obj: SchemaObject, _: str) -> None:
    scratch.execute(obj.sql)


def _load_sql(scratch: sqlite3.Connection, obj: SchemaObject, table: str) -> None:
    """`obj` written into sqlite_master as SQLite's schema loader reads it: unknown collations
    and functions are accepted there (they are looked up when used)."""
    scratch.execute("PRAGMA writable_schema = ON")
    scratch.execute(
        "INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql) VALUES (?, ?, ?, 0, ?)",
        (obj.type, obj.name, table, obj.sql),
    )
    scratch.execute("PRAGMA writable_schema = RESET")


def _indexes(conn: sqlite3.Connection, quoted: str) -> tuple[Index, ...]:
    found = []
    for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({quoted})"):
        index = '"' + name.replace('"', '""') + '"'
        columns = tuple(row[2] for row in conn.execute(f"PRAGMA index_info({index})"))
        found.append(Index(name, unique, origin, partial, columns))
    return tuple(sorted(found))


_new = tuple.__new__


def _internal(name: str) -> bool:
    """An automatic index (sqlite_autoindex_...): described by index_list, not by SQL."""
    return name.startswith("sqlite_")


def _keys(rows_of_all: list[tuple[object, ...]]) -> tuple[ForeignKey, ...]:
    """ForeignKeys from foreign_key_list rows (id, seq, table, from, to, on_update, ...)."""
    by_id: dict[object, list[tuple[object, ...]]] = {}
    for row in rows_of_all:
        by_id.setdefault(row[0], []).append(row)
    return foreign_keys(by_id)
