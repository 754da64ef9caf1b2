"""References left to a table or view that a migration removed (MG609), as SQLite sees them.

A view, a trigger or a foreign key may still name a table the migration dropped, or one a RENAME
rewrote it to and that was dropped after (`ALTER TABLE t RENAME TO t_old` ... `DROP TABLE
t_old`). SQLite accepts both and fails later: selecting from the view, and every statement that
fires the trigger or writes the foreign key's table, stop with "no such table". So SQLite is
asked: each view is compiled (`EXPLAIN SELECT * FROM v`, nothing runs), each trigger's firing
statement too (`EXPLAIN INSERT/UPDATE/DELETE` on its table: the trigger's program is compiled
with it), and the foreign keys are read (`PRAGMA foreign_key_list`).

Only after a migration that removed a table or view, and only for the objects whose SQL names one
of those (a word of its normalised SQL): the common migration pays nothing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from ci.core.sqltext import LazyPattern
from ci.db.schema_change import DANGLING, Change, normalised
from ci.db.schema_shapes import EXCLUDED, SchemaObject, Shape, fold

_MISSING = LazyPattern(r"no such table: (?:main\.)?(.+)$")
_EVENT = LazyPattern(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_WORD = LazyPattern(r'"(?:[^"]|"")*"|[\w$]+')
_GENERATED = (2, 3)  # table_xinfo's `hidden` of a generated column: it cannot be SET


def gone_names(after: Mapping[str, Shape], named: Iterable[str]) -> set[str]:
    """The tables and views (folded) among `named` (those the migration named, and with a
    rename every group before it) that do not exist after it."""
    return {n for n in named if n not in after and n not in EXCLUDED}


def dangling(
    conn: sqlite3.Connection,
    before: Mapping[str, Shape],
    after: Mapping[str, Shape],
    gone: set[str],
) -> list[Change]:
    """A Change (MG609) for each view, trigger and foreign key of the schema `after` (the
    database's now) that still uses one of the `gone` tables or views."""
    if not gone:
        return []
    with _foreign_keys_off(conn):
        return _references(conn, before, after, gone)


@contextmanager
def _foreign_keys_off(conn: sqlite3.Connection) -> Iterator[None]:
    """Foreign keys off while the triggers' firing statements compile: a key whose parent is
    gone would fail them first and hide the trigger (the keys are read apart). SQLite ignores
    the pragma inside a transaction; then a trigger may stay hidden behind its table's key."""
    on = not conn.in_transaction and conn.execute("PRAGMA foreign_keys").fetchone()[0]
    if on:
        conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        if on:
            conn.execute("PRAGMA foreign_keys = ON")


def _references(
    conn: sqlite3.Connection,
    before: Mapping[str, Shape],
    after: Mapping[str, Shape],
    gone: set[str],
) -> list[Change]:
    found: list[Change] = []
    for key, shape in sorted(after.items()):
        for obj in shape.objects:
            if obj.type not in ("view", "trigger", "table") or not _names_any(obj.sql, gone):
                continue
            rewritten = _rewritten(before.get(key), obj)
            if obj.type == "view":
                found += _view(conn, key, obj, gone, rewritten)
            elif obj.type == "trigger":
                found += _trigger(conn, key, shape, obj, gone, rewritten)
            else:
                found += _foreign_keys(conn, key, obj, gone, rewritten)
    return found


def merged(changes: list[Change], found: list[Change]) -> list[Change]:
    """`changes` with the dangling references `found`: one replaces the "view/trigger
    redefined" (a RENAME rewrote it) of the same object; a foreign key already reported as
    dangling (the table was reshaped) is not reported twice."""
    if not found:
        return changes
    targets = {c.target for c in found}
    reported = {c.group for c in changes if c.code == DANGLING}
    kept = [c for c in changes if not (c.kind.endswith(" redefined") and c.target in targets)]
    return kept + [c for c in found if not (c.target.startswith("table ") and c.group in reported)]


def _names_any(sql: str, gone: set[str]) -> bool:
    """Whether `sql` has one of the `gone` names as a word (a cheap test first)."""
    folded = fold(sql)
    if not any(name in folded for name in gone):
        return False
    return bool(_words(sql) & gone)


def _words(sql: str) -> set[str]:
    return {
        fold(w[1:-1].replace('""', '"') if w[0] == '"' else w)
        for w in _WORD.findall(normalised(sql))
    }


def _rewritten(old: Shape | None, obj: SchemaObject) -> bool:
    """Whether the migration changed the object's SQL (a RENAME rewrote it): then the RENAME is
    the statement responsible, else the DROP of the table it uses."""
    return old is not None and obj not in old.objects


def _missing(conn: sqlite3.Connection, sql: str, gone: set[str]) -> str | None:
    """The gone table or view that compiling `sql` stops at (None: it compiles, or fails for
    another reason)."""
    try:
        conn.execute(f"EXPLAIN {sql}").close()
    except sqlite3.Error as error:
        match = _MISSING.search(str(error))
        if match and fold(match[1]) in gone:
            return match[1]
    return None


def _view(
    conn: sqlite3.Connection, key: str, obj: SchemaObject, gone: set[str], rewritten: bool
) -> list[Change]:
    missing = _missing(conn, f"SELECT * FROM {_quoted(obj.name)}", gone)
    if missing is None:
        return []
    detail = (
        f"it reads {missing}, which does not exist after the migration: every query of the "
        f"view fails (SQLite: no such table: {missing}); create the view again on the table "
        "that holds the rows now"
    )
    kind = "view left reading a missing table"
    return [_change(kind, f"view {obj.name}", detail, key, missing, rewritten)]


def _trigger(
    conn: sqlite3.Connection,
    key: str,
    table: Shape,
    obj: SchemaObject,
    gone: set[str],
    rewritten: bool,
) -> list[Change]:
    firing = _firing(conn, table, obj.sql)
    missing = _missing(conn, firing, gone) if firing else None
    if missing is None or fold(missing) not in _words(obj.sql):
        return []  # it compiles, or what fails is another trigger or a foreign key
    detail = (
        f"it uses {missing}, which does not exist after the migration: the statements that "
        f"fire it fail (SQLite: no such table: {missing}); create the trigger again on the "
        "table that holds the rows now"
    )
    kind = "trigger left using a missing table"
    return [_change(kind, f"trigger {obj.name}", detail, key, missing, rewritten)]


def _firing(conn: sqlite3.Connection, table: Shape, sql: str) -> str | None:
    """A statement on the trigger's table that fires it (for UPDATE: every column set)."""
    event = _EVENT.search(normalised(sql).split(" on ", 1)[0])
    if event is None:
        return None
    name = _quoted(table.name)
    word = event[1].upper()
    if word == "DELETE":
        return f"DELETE FROM {name}"
    if word == "INSERT":
        return f"INSERT INTO {name} DEFAULT VALUES"
    columns = [
        _quoted(row[1])
        for row in conn.execute(f"PRAGMA table_xinfo({name})")
        if row[5] not in _GENERATED
    ]
    if not columns:
        return None
    return f"UPDATE {name} SET " + ", ".join(f"{c} = {c}" for c in columns)


def _foreign_keys(
    conn: sqlite3.Connection, key: str, obj: SchemaObject, gone: set[str], rewritten: bool
) -> list[Change]:
    found = []
    by_id: dict[int, list[str]] = {}
    parents: dict[int, str] = {}
    for row in conn.execute(f"PRAGMA foreign_key_list({_quoted(obj.name)})"):
        by_id.setdefault(row[0], []).append(str(row[3]))
        parents[row[0]] = str(row[2])
    for fk_id, parent in sorted(parents.items()):
        if fold(parent) not in gone:
            continue
        columns = ", ".join(by_id[fk_id])
        detail = (
            f"foreign key ({columns}) points at {parent}, which does not exist after the "
            "migration: every insert into this table fails"
        )
        kind = "foreign key to a missing table"
        found.append(_change(kind, f"table {obj.name}", detail, key, parent, rewritten))
    return found


def _change(kind: str, target: str, detail: str, key: str, missing: str, rewritten: bool) -> Change:
    """Blamed on the RENAME that rewrote the object (no part: ci.db.schema_watch finds it by
    the name in `detail`), else on the last statement naming the missing table (its DROP)."""
    made_by = None if rewritten else f"table {fold(missing)}"
    return Change(kind, target, detail, key, DANGLING, made_by)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
