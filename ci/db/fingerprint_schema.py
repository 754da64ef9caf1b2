"""The schema part of a fingerprint, read from a SQLite database: each group's `sqlite_master`
objects with normalised SQL, and `PRAGMA table_xinfo` / `index_list` / `index_info` /
`foreign_key_list`; the header values; `read_groups`, which also asks ci.db.fingerprint_data
for the rows. The runner's own tables and SQLite's internal ones are left out.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from functools import lru_cache

from ci.db.bookkeeping import LOG_TABLE, TABLE
from ci.db.fingerprint_data import is_virtual, with_data
from ci.db.fingerprint_records import (
    HEADER_PRAGMAS,
    Column,
    ForeignKey,
    Index,
    SchemaObject,
    TablePrint,
)
from ci.db.table_records import foreign_keys

EXCLUDED_GROUPS = frozenset({TABLE, LOG_TABLE})
MASTER_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})

# --- normalised SQL -------------------------------------------------------------------------

_SQL_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^']|'')*'?)
    | (?P<quoted>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)
    | (?P<word>[\w$]+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_PLAIN_NAME = re.compile(r"^[A-Za-z_][\w$]*$")


@lru_cache(maxsize=16384)
def normalise_sql(sql: str | None) -> str:
    """SQL with comments dropped, whitespace folded, case folded outside strings, and identifier
    quoting removed where it is not needed: `CREATE TABLE "patients"(id)` (what RENAME writes)
    equals `create table patients ( id )`."""
    if not sql:
        return ""
    tokens: list[str] = []
    for match in _SQL_TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind in ("space", "comment"):
            continue
        if kind == "quoted":
            inner = text[1:-1] if len(text) > 1 else ""
            inner = inner.replace('""', '"') if text[0] == '"' else inner
            inner = inner.replace("``", "`") if text[0] == "`" else inner
            text = inner if _PLAIN_NAME.match(inner) else '"' + inner.replace('"', '""') + '"'
        if kind != "string":
            text = text.lower()
        tokens.append(text)
    return " ".join(tokens)


def read_header(conn: sqlite3.Connection) -> tuple[tuple[str, int], ...]:
    """PRAGMA user_version and application_id: two reads of the database header."""
    return tuple(
        (pragma, int(conn.execute(f"PRAGMA {pragma}").fetchone()[0])) for pragma in HEADER_PRAGMAS
    )


STAT_TABLES = ("sqlite_stat1", "sqlite_stat4")


def read_statistics(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The tables (lower-case names) that ANALYZE left statistics for in sqlite_stat1 (or
    sqlite_stat4, when SQLite was built with it); the runner's tables are left out."""
    present = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", STAT_TABLES
        )
    ]
    tables: set[str] = set()
    for stat in present:
        tables.update(str(t).lower() for (t,) in conn.execute(f"SELECT DISTINCT tbl FROM {stat}"))
    return tuple(sorted(t for t in tables if t not in EXCLUDED_GROUPS))


Rows = tuple[tuple[str, str, str, str | None], ...]


def read_groups(
    conn: sqlite3.Connection,
    names: Iterable[str] | None,
    *,
    content: bool | None,
    shapes: dict[Rows, TablePrint] | None = None,
) -> dict[str, TablePrint]:
    """TablePrints for the given groups (lower-case names), or for all when `names` is None.

    `content`: True = row count and hash, False = row count only, None = schema only.
    `shapes` caches the schema part by the group's sqlite_master rows, of which the PRAGMAs are
    a pure function: a rollback returns to rows seen before, and so does the re-apply.
    """
    query = "SELECT type, name, tbl_name, sql FROM sqlite_master"
    params: list[str] = []
    if names is not None:
        params = sorted(names)
        if not params:
            return {}
        # COLLATE NOCASE matches what lower() did (both fold ASCII only; the names are lower
        # case) without calling a function on every sqlite_master row: ~2x faster per read
        query += f" WHERE tbl_name COLLATE NOCASE IN ({', '.join('?' * len(params))})"
    found: dict[str, list[tuple[str, str, str, str | None]]] = {}
    for type_, name, tbl_name, sql in conn.execute(query, params):
        key = tbl_name.lower()
        if key in EXCLUDED_GROUPS or key.startswith("sqlite_") or name.startswith("sqlite_"):
            continue
        found.setdefault(key, []).append((type_, name, tbl_name, sql))
    shapes = {} if shapes is None else shapes
    groups: dict[str, TablePrint] = {}
    for key, rows in found.items():
        rows_key = tuple(sorted(rows))
        shape = shapes.get(rows_key)
        if shape is None:
            shape = shapes[rows_key] = _shape(conn, rows)
        groups[key] = with_data(conn, shape, content)
    return groups


def _shape(conn: sqlite3.Connection, rows: list[tuple[str, str, str, str | None]]) -> TablePrint:
    """The schema part of a group: objects with normalised SQL, columns, indexes, keys."""
    objects = tuple(
        sorted(SchemaObject(type_, name, normalise_sql(sql)) for type_, name, _, sql in rows)
    )
    table = next((name for type_, name, _, _ in rows if type_ == "table"), None)
    if table is None:
        return TablePrint(rows[0][2], objects)
    if is_virtual(objects):
        return TablePrint(table, objects, _columns(conn, table))
    return TablePrint(table, objects, *_table_shape(conn, table))


# table_xinfo, index_list with each index's index_info, and foreign_key_list in one statement:
# a third of the time of one statement each (each is prepared again after every DDL step)
_TABLE_SHAPE = """
SELECT 0, cid, name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)
UNION ALL
SELECT 1, l.name, l."unique", l.origin, l.partial, i.seqno, i.name, NULL
FROM pragma_index_list(?1) AS l LEFT JOIN pragma_index_info(l.name) AS i
UNION ALL
SELECT 2, id, seq, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?1)
"""


def _table_shape(
    conn: sqlite3.Connection, table: str
) -> tuple[tuple[Column, ...], tuple[Index, ...], tuple[ForeignKey, ...]]:
    """What `_columns`, `_indexes` and `_foreign_keys` read, with one query."""
    columns: list[Column] = []
    indexes: dict[str, tuple[tuple[int, str, int], list[tuple[int, str | None]]]] = {}
    keys: dict[int, list[tuple[object, ...]]] = {}
    for row in conn.execute(_TABLE_SHAPE, (table,)).fetchall():
        if row[0] == 0:
            columns.append(Column(*row[2:8]))
        elif row[0] == 1:
            entry = indexes.setdefault(row[1], ((row[2], row[3], row[4]), []))
            if row[5] is not None:
                entry[1].append((row[5], row[6]))
        else:
            keys.setdefault(row[1], []).append(row[1:])
    index_tuples = []
    for name, ((unique, origin, partial), columns_of) in indexes.items():
        columns_of.sort(key=lambda c: c[0])
        index_tuples.append(Index(name, unique, origin, partial, tuple(c for _, c in columns_of)))
    return tuple(columns), tuple(sorted(index_tuples)), foreign_keys(keys)


def _columns(conn: sqlite3.Connection, table: str) -> tuple[Column, ...]:
    rows = conn.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)).fetchall()
    return tuple(Column(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows)


def _indexes(conn: sqlite3.Connection, table: str) -> tuple[Index, ...]:
    indexes = []
    for _, name, unique, origin, partial in conn.execute(
        "SELECT * FROM pragma_index_list(?)", (table,)
    ).fetchall():
        columns = conn.execute("SELECT name FROM pragma_index_info(?)", (name,)).fetchall()
        indexes.append(Index(name, unique, origin, partial, tuple(c[0] for c in columns)))
    return tuple(sorted(indexes))


def _foreign_keys(conn: sqlite3.Connection, table: str) -> tuple[ForeignKey, ...]:
    by_id: dict[int, list[tuple[object, ...]]] = {}
    for row in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (table,)):
        by_id.setdefault(row[0], []).append(row)
    return foreign_keys(by_id)
