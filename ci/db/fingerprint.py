"""Schema and data fingerprints of a SQLite database, and what differs between two, in words.

A fingerprint maps each *group* (a table or view, keyed by its lower-case name) to a `TablePrint`:
the `sqlite_master` objects that belong to it (the table, its indexes and triggers) with normalised
SQL, `PRAGMA table_xinfo` / `index_list` / `index_info` / `foreign_key_list`, and the table's row
count and content hash. The runner's own tables and SQLite's internal ones are left out.

`Tracker` keeps the fingerprint of one connection current while migrations run on it. Reading
every table after every migration would cost O(tables) per step and O(N^2) over a run, so SQLite's
authorizer, which is called while each statement is compiled (trigger bodies and foreign-key
actions included), reports which tables a step writes and which objects it creates, drops or
alters; only those groups are read again. Setting an authorizer expires every prepared statement,
so statements the driver has cached are compiled, and reported, again.

Fingerprints take a connection; they never open one (only the runner does).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

from ci.db.bookkeeping import LOG_TABLE, TABLE
from ci.db.gatekeeper import gate_of

EXCLUDED_GROUPS = frozenset({TABLE, LOG_TABLE})
MASTER_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})
_IGNORED = MASTER_TABLES | EXCLUDED_GROUPS
BATCH = 512

_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_NAMED_BY_ARG1 = {
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_CREATE_VTABLE,
    sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_DROP_VTABLE,
}
_NAMED_BY_ARG2 = {
    sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_DROP_TRIGGER,
}
_WRITE, _ARG1, _ARG2, _ALTER, _MAYBE_BROAD = range(5)
# what the Tracker's authorizer does with each action code (one dict look-up per call)
_AUTHORIZER_KINDS = {
    **dict.fromkeys(_WRITES, _WRITE),
    **dict.fromkeys(_NAMED_BY_ARG1, _ARG1),
    **dict.fromkeys(_NAMED_BY_ARG2, _ARG2),
    sqlite3.SQLITE_ALTER_TABLE: _ALTER,
    sqlite3.SQLITE_FUNCTION: _MAYBE_BROAD,
    sqlite3.SQLITE_PRAGMA: _MAYBE_BROAD,
}
# ALTER TABLE ... RENAME rewrites the SQL of other objects (views, triggers, foreign keys).
_BROAD_FUNCTIONS = frozenset({"sqlite_rename_table", "sqlite_rename_column"})


def _is_broad(action: int, arg1: str | None, arg2: str | None) -> bool:
    """Whether a step may have changed objects it does not name: re-read everything."""
    if action == sqlite3.SQLITE_FUNCTION:
        return arg2 in _BROAD_FUNCTIONS
    return action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() == "writable_schema"


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
    sql: str  # normalised: see normalise_sql


class TablePrint(NamedTuple):
    """One table or view: its objects, shape and (for tables) row count and content hash."""

    name: str
    objects: tuple[SchemaObject, ...]
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    rows: int | None = None
    digest: str | None = None

    @property
    def kind(self) -> str:
        types = {o.type for o in self.objects}
        return "table" if "table" in types else "view" if "view" in types else "object"


# Values in the database header that migrations set and a rollback must set back.
HEADER_PRAGMAS = ("user_version", "application_id")


@dataclass(frozen=True)
class Fingerprint:
    groups: Mapping[str, TablePrint] = field(default_factory=dict)
    # (pragma, value) for HEADER_PRAGMAS, read by the Tracker; empty when not read (a schema
    # snapshot has no header to compare)
    header: tuple[tuple[str, int], ...] = ()

    def schema_only(self) -> Fingerprint:
        return Fingerprint(
            {k: g._replace(rows=None, digest=None) for k, g in self.groups.items()}, self.header
        )


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


# --- reading a database ---------------------------------------------------------------------


def fingerprint(conn: sqlite3.Connection, *, content: bool = True) -> Fingerprint:
    """The whole fingerprint of a database (schema, row counts, and content hashes if asked,
    header pragmas)."""
    return Fingerprint(read_groups(conn, None, content=content), read_header(conn))


def read_header(conn: sqlite3.Connection) -> tuple[tuple[str, int], ...]:
    """PRAGMA user_version and application_id: two reads of the database header."""
    return tuple(
        (pragma, int(conn.execute(f"PRAGMA {pragma}").fetchone()[0])) for pragma in HEADER_PRAGMAS
    )


def schema_fingerprint(conn: sqlite3.Connection) -> Fingerprint:
    return Fingerprint(read_groups(conn, None, content=None))


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
    if _is_virtual(objects):
        return TablePrint(table, objects, _columns(conn, table))
    return TablePrint(table, objects, *_table_shape(conn, table))


def _is_virtual(objects: tuple[SchemaObject, ...]) -> bool:
    return any(o.type == "table" and o.sql.startswith("create virtual") for o in objects)


def with_data(conn: sqlite3.Connection, shape: TablePrint, content: bool | None) -> TablePrint:
    """The group with its row count (and content hash when `content`) read now."""
    if content is None or not shape.columns:  # no table in the group (a view, or objects only)
        return shape
    if content and not _is_virtual(shape.objects):
        rows, digest = _content(conn, shape.name, shape.columns)
    else:
        (rows,) = conn.execute(f"SELECT count(*) FROM {quote(shape.name)}").fetchone()
        digest = None
    if rows == shape.rows and digest == shape.digest:
        return shape  # unchanged: the same object (compared by identity first)
    return TablePrint(*shape[:5], rows, digest)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    return tuple(columns), tuple(sorted(index_tuples)), _keys(keys)


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
    return _keys(by_id)


def _keys(by_id: dict[int, list[tuple[object, ...]]]) -> tuple[ForeignKey, ...]:
    """ForeignKeys from foreign_key_list rows (id, seq, table, from, to, ...) by id."""
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


# --- keeping a fingerprint current -----------------------------------------------------------


class Tracker:
    """The fingerprint of one connection, kept current by reading only what each step touched.

    ```
    tracker = Tracker(conn)
    before = tracker.fingerprint
    with tracker.watch():
        runner.apply(migration)
    tracker.changed  # the groups that step may have changed
    ```
    """

    def __init__(self, conn: sqlite3.Connection, *, content: bool = True) -> None:
        self.conn = conn
        self.content = content
        self._shapes: dict[Rows, TablePrint] = {}
        self._groups = read_groups(conn, None, content=content, shapes=self._shapes)
        # read again only after a step that names one of its pragmas: no cost per step
        self._header = read_header(conn)
        self._shared = False  # a Fingerprint handed out holds self._groups: copy before a change
        self.changed: frozenset[str] = frozenset()

    @property
    def fingerprint(self) -> Fingerprint:
        """The fingerprint now, which later steps do not change."""
        self._shared = True
        return Fingerprint(self._groups, self._header)

    @property
    def now(self) -> Fingerprint:
        """The fingerprint now, to compare at once: the next step changes it (no copy)."""
        return Fingerprint(MappingProxyType(self._groups), self._header)

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Record what the statements run inside the block touch; refresh afterwards."""
        touched: set[str] = set()  # groups with an object created, dropped or altered
        reshaped: set[str] = set()  # ... with the table or view itself created, dropped, altered
        written: set[str] = set()  # tables whose rows may have changed
        broad: list[bool] = []
        header: list[bool] = []  # a step named user_version or application_id
        kinds = _AUTHORIZER_KINDS

        def authorize(
            action: int, arg1: str | None, arg2: str | None, db: str | None, _: str | None
        ) -> int:
            kind = kinds.get(action)
            if kind is None:  # most calls: reading a column, SELECT, a transaction
                pass
            elif kind == _WRITE:
                if arg1 and db == "main":
                    written.add(arg1.lower())
            elif kind == _ARG1:
                if arg1 and db == "main":
                    touched.add(arg1.lower())
                    reshaped.add(arg1.lower())
            elif kind == _ARG2:  # an index or trigger: arg2 is its table
                if arg2 and db == "main":
                    touched.add(arg2.lower())
            elif kind == _ALTER:
                if arg2 and arg1 == "main":  # arg1 is the database; the 5th argument a column
                    touched.add(arg2.lower())
                    reshaped.add(arg2.lower())
            elif _is_broad(action, arg1, arg2):
                broad.append(True)
            elif action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in HEADER_PRAGMAS:
                header.append(True)
            return sqlite3.SQLITE_OK

        try:
            with gate_of(self.conn).observing(authorize):  # the connection's one authorizer
                yield
        finally:
            if header or broad:
                self._header = read_header(self.conn)
            if broad:
                self._refresh_all()
            else:
                self._refresh(touched, reshaped, written)

    def _refresh_all(self) -> None:
        fresh = read_groups(self.conn, None, content=self.content, shapes=self._shapes)
        keys = set(fresh) | set(self._groups)
        self.changed = frozenset(k for k in keys if fresh.get(k) != self._groups.get(k))
        self._groups, self._shared = fresh, False

    def _refresh(self, touched: set[str], reshaped: set[str], written: set[str]) -> None:
        touched -= _IGNORED
        written -= _IGNORED
        self.changed = frozenset(touched | written)
        if not self.changed:
            return
        if self._shared:
            self._groups, self._shared = dict(self._groups), False
        groups = self._groups
        # a table only written to keeps its shape: read its rows again, not its schema
        touched |= {key for key in written if key not in groups}
        # only an index or trigger created or dropped, no row written: the rows stay as they were
        same_rows = touched - reshaped - written
        shapes = read_groups(self.conn, touched, content=None, shapes=self._shapes)
        for key in touched:
            shape = shapes.get(key)
            if shape is None:
                groups.pop(key, None)
                continue
            old = groups.get(key) if key in same_rows else None
            if old is not None and old.columns == shape.columns and old.name == shape.name:
                groups[key] = TablePrint(*shape[:5], old.rows, old.digest)
            else:
                groups[key] = with_data(self.conn, shape, self.content)
        for key in written - touched:
            groups[key] = with_data(self.conn, groups[key], self.content)


# --- differences in words --------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """How a difference reads: `before` is what was expected, `after` what was found."""

    missing: str = "missing"
    extra: str = "left behind"
    extra_column: str = "still present"
    header: str = "{pragma} {found} -> {expected} not restored"


ROLLBACK = Wording()
REAPPLY = Wording(
    missing="missing after re-applying",
    extra="only there after re-applying",
    extra_column="only there after re-applying",
    header="{pragma} is {found} after re-applying, {expected} before",
)
DRIFT = Wording(
    missing="in the snapshot but not created by the migrations",
    extra="created by the migrations but not in the snapshot",
    extra_column="created by the migrations but not in the snapshot",
)


def describe_differences(
    before: Fingerprint,
    after: Fingerprint,
    *,
    only: Iterable[str] | None = None,
    wording: Wording = ROLLBACK,
) -> list[str]:
    """What differs between two fingerprints, one reviewer-readable line per difference.

    `only` limits the comparison to these groups (those a step may have changed).
    """
    keys = set(before.groups) | set(after.groups) if only is None else set(only)
    lines = _header_differences(before, after, wording)
    for key in sorted(keys):
        old, new = before.groups.get(key), after.groups.get(key)
        if old == new:
            continue
        if new is None:
            assert old is not None
            lost = f" ({rows(old.rows)} lost)" if old.rows else ""
            lines.append(f"{old.kind} {old.name} {wording.missing}{lost}")
        elif old is None:
            lines.append(f"{new.kind} {new.name} {wording.extra}")
        else:
            lines.extend(_group_differences(old, new, wording))
    return lines


def _header_differences(before: Fingerprint, after: Fingerprint, wording: Wording) -> list[str]:
    if not before.header or not after.header or before.header == after.header:
        return []
    expected = dict(before.header)
    return [
        wording.header.format(pragma=pragma, found=value, expected=expected[pragma])
        for pragma, value in after.header
        if value != expected.get(pragma, value)
    ]


def _group_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    lines = _object_differences(old, new, wording)
    lines += _column_differences(old, new, wording)
    lines += _index_differences(old, new, wording)
    lines += _foreign_key_differences(old, new, wording)
    if not lines and old[:5] != new[:5]:
        lines.append(f"{old.kind} {old.name}: definition differs")
    lines += _data_differences(old, new)
    return lines


def _object_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    old_objects = {(o.type, o.name.lower()): o for o in old.objects}
    new_objects = {(o.type, o.name.lower()): o for o in new.objects}
    lines = []
    for key in sorted(set(old_objects) | set(new_objects)):
        before, after = old_objects.get(key), new_objects.get(key)
        if key[0] == "index" and (before is None or after is None):
            continue  # reported with index_list, which also knows UNIQUE/PRIMARY KEY indexes
        if before is None:
            assert after is not None
            lines.append(f"{after.type} {after.name} {wording.extra}")
        elif after is None:
            lines.append(f"{before.type} {before.name} {wording.missing}")
        elif before.sql != after.sql and before.type in ("trigger", "view"):
            lines.append(f"{before.type} {before.name} definition changed")
    return lines


def _column_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    table = old.name
    old_columns = {c.name.lower(): (i, c) for i, c in enumerate(old.columns)}
    new_columns = {c.name.lower(): (i, c) for i, c in enumerate(new.columns)}
    lines = []
    for name, (position, before) in old_columns.items():
        if name not in new_columns:
            lines.append(f"column {table}.{before.name} {wording.missing}")
            continue
        new_position, after = new_columns[name]
        where = f"column {table}.{before.name}"
        if before.type != after.type:
            lines.append(f"{where} type {before.type or '(none)'} -> {after.type or '(none)'}")
        if before.notnull != after.notnull:
            lines.append(f"{where} {_nullability(before)} -> {_nullability(after)}")
        if before.default != after.default:
            lines.append(f"{where} {_default(before)} -> {_default(after)}")
        if before.pk != after.pk:
            lines.append(f"{where} primary key {bool(before.pk)} -> {bool(after.pk)}")
        if position != new_position:
            lines.append(f"{where} moved from position {position + 1} to {new_position + 1}")
    for name, (_, after) in new_columns.items():
        if name not in old_columns:
            lines.append(f"column {table}.{after.name} {wording.extra_column}")
    return lines


def _default(column: Column) -> str:
    """`default 0`, or `no default` (never Python's None)."""
    return "no default" if column.default is None else f"default {column.default}"


def _nullability(column: Column) -> str:
    return "NOT NULL" if column.notnull else "NULL allowed"


def _index_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    old_indexes = {i.name.lower(): i for i in old.indexes}
    new_indexes = {i.name.lower(): i for i in new.indexes}
    lines = []
    for name in sorted(set(old_indexes) | set(new_indexes)):
        before, after = old_indexes.get(name), new_indexes.get(name)
        if before == after:
            continue
        if before is None:
            assert after is not None
            lines.append(f"{_index_kind(after)} {after.name} on {new.name} {wording.extra}")
        elif after is None:
            lines.append(f"{_index_kind(before)} {before.name} on {old.name} {wording.missing}")
        elif before.columns != after.columns:
            lines.append(
                f"index {before.name} columns ({_index_columns(before)}) -> "
                f"({_index_columns(after)})"
            )
        elif before.unique != after.unique:
            lines.append(
                f"index {before.name} unique {bool(before.unique)} -> {bool(after.unique)}"
            )
        else:
            lines.append(f"index {before.name} definition changed")
    return lines


def _index_columns(index: Index) -> str:
    """`a, b`; SQLite names no column for an expression (`lower(a)`)."""
    return ", ".join("(expression)" if c is None else c for c in index.columns)


def _index_kind(index: Index) -> str:
    return "unique index" if index.unique and index.origin == "c" else "index"


def _foreign_key_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    lines = []
    for key in sorted(set(old.foreign_keys) - set(new.foreign_keys)):
        lines.append(f"foreign key {_fk(old.name, key)} {wording.missing}")
    for key in sorted(set(new.foreign_keys) - set(old.foreign_keys)):
        lines.append(f"foreign key {_fk(new.name, key)} {wording.extra}")
    return lines


def _fk(table: str, key: ForeignKey) -> str:
    to = ", ".join(c or "(primary key)" for c in key.to)
    return f"{table}({', '.join(key.columns)}) -> {key.table}({to})"


def _data_differences(old: TablePrint, new: TablePrint) -> list[str]:
    if old.rows is None or new.rows is None:
        return []
    if new.rows < old.rows:
        return [f"table {old.name}: {rows(old.rows - new.rows)} lost"]
    if new.rows > old.rows:
        return [f"table {old.name}: {rows(new.rows - old.rows)} extra"]
    same_shape = [c.name for c in old.columns] == [c.name for c in new.columns]
    if old.digest != new.digest and same_shape:
        return [f"table {old.name}: content changed (same row count)"]
    return []


def rows(count: int) -> str:
    """`1 row`, `1,204 rows`."""
    return f"{count:,} row" if count == 1 else f"{count:,} rows"


def row_counts(printed: Fingerprint) -> dict[str, int]:
    """{table name: rows} for every table that has a count."""
    return {g.name: g.rows for g in printed.groups.values() if g.rows is not None}
