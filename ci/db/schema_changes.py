"""What a migration changed in the schema, classified: two schemas in, `Change`s out.

Pure: it compares the groups before and after (ci.db.schema_shapes records: a table or view with
its indexes and triggers, as a fingerprint groups them) and reads nothing. Every difference
becomes a `Change` (the reviewer's changelog); the risky ones carry a finding code
(MG601-MG609) and a severity, the rest (a new table, column or index) are "info". Which statement
made a change is ci.db.schema_watch's business: it fills `line` and `offset`.

A table or column that disappears while one of the same shape appears is a rename (by RENAME, or
dropped and added again): on an empty database the shape is all there is to compare.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping

from ci.core.sqltext import LazyPattern
from ci.db.schema_change import (
    COLUMN_CHANGED,
    COLUMN_DROPPED,
    CONSTRAINT_ADDED,
    DEPLOYED,
    ERRORS,
    NOT_NULL_ADDED,
    OBJECT_DROPPED,
    RENAMED,
    TABLE_DROPPED,
    UNIQUE_ADDED,
    Change,
    one_line,
    part,
    same_sql,
)
from ci.db.schema_shapes import Shape, fold
from ci.db.schema_table_diff import (
    added_columns,
    appended,
    check_changes,
    column_changes,
    column_shape,
    key_changes,
    table_parts_of,
    unique_changes,
)
from ci.db.schema_table_options import option_changes

__all__ = [
    "COLUMN_CHANGED",
    "COLUMN_DROPPED",
    "CONSTRAINT_ADDED",
    "ERRORS",
    "NOT_NULL_ADDED",
    "OBJECT_DROPPED",
    "RENAMED",
    "TABLE_DROPPED",
    "UNIQUE_ADDED",
    "Change",
    "classify",
    "group_changes",
    "needs_reading",
    "only_harmless_additions",
]


def classify(
    before: Mapping[str, Shape],
    after: Mapping[str, Shape],
    keys: Iterable[str] | None = None,
    copied: Callable[[str, str], bool] | None = None,
    replaced: Mapping[str, bool] | None = None,
) -> list[Change]:
    """Every change between the groups of two schema fingerprints (only `keys`, if given).
    `copied(old, new)`, when given (a migration with no RENAME), says whether a table dropped
    and one of the same shape created are a rename: the rows were copied from one to the
    other; otherwise they are a drop and a creation. `replaced`: the tables the migration
    dropped or renamed away, each with whether it put rows back under that name: one that
    exists before and after was rebuilt."""
    names = sorted(set(before) | set(after) if keys is None else set(keys))
    gone = _without_shadows([before[k] for k in names if k in before and k not in after], before)
    new = _without_shadows([after[k] for k in names if k in after and k not in before], after)
    changes: list[Change] = []
    renames: dict[str, str] = {}
    inner: list[tuple[Shape, Shape]] = []  # renamed tables: their own changes
    for old in gone:
        twin = next(
            (
                n
                for n in new
                if n.kind == old.kind == "table"
                and _same_shapes(old, n)
                and (copied is None or copied(fold(old.name), fold(n.name)))
            ),
            None,
        )
        if twin is None:
            changes.append(_dropped(old))
            continue
        new.remove(twin)
        renames[fold(old.name)] = fold(twin.name)
        changes.append(
            Change(
                "table renamed",
                f"table {old.name}",
                f"renamed to {twin.name}; {DEPLOYED}",
                fold(old.name),
                RENAMED,
            )
        )
        inner.append((old, twin))
    for created in new:
        changes.append(_created(created))
        bare = Shape(created.name, ())
        for kind in ("index", "trigger"):
            changes += _object_changes(bare, created, fold(created.name), kind)
    existing = after.keys()  # every group of the schema after (folded names)
    for old, twin in inner:
        changes += group_changes(old, twin, renames, existing)
    rebuilt = _rebuilt(before, after, names, replaced or {})
    for key in names:
        was, now = before.get(key), after.get(key)
        inside = group_changes(was, now, renames, existing) if was and now and was != now else []
        if key in rebuilt and now is not None:
            changes.append(_rebuild(now, inside, rebuilt[key]))
        changes += inside
    return changes


def _rebuilt(
    before: Mapping[str, Shape], after: Mapping[str, Shape], names: list[str],
    replaced: Mapping[str, bool],
) -> dict[str, bool]:  # fmt: skip
    """The tables (not a virtual table's shadow tables) dropped and there again after."""
    if not replaced:
        return {}
    both = [k for k in names if k in replaced and k in before and k in after]
    tables = [after[k] for k in both if before[k].kind == after[k].kind == "table"]
    return {fold(t.name): replaced[fold(t.name)] for t in _without_shadows(tables, after)}


def _rebuild(table: Shape, inside: list[Change], filled: bool) -> Change:
    """ "table t rebuilt (columns: ...)": what changed in it, or its rows gone when nothing of
    the migration put rows back after it was dropped (the same definition again clears it)."""
    columns = ", ".join(c.name for c in table.columns if c.hidden != 1) or "unknown"
    what = "; ".join(_in_short(c) for c in inside)
    detail = f"(columns: {columns}): " + (f"changed: {what}" if what else "same definition")
    key, where = fold(table.name), f"table {table.name}"
    if filled:
        return Change("table rebuilt", where, detail, key)
    detail += (
        "; dropped and created again, and no statement of the migration puts rows back "
        "into it (an INSERT ... SELECT reading them): its rows are gone"
    )
    return Change("table rebuilt", where, detail, key, TABLE_DROPPED, f"dropped {key}")


def _in_short(change: Change) -> str:
    """A change inside a rebuilt table, for its "changed:" list: `column dropped notes`."""
    kind, _, name = change.target.partition(" ")
    return change.kind if kind == "table" else f"{change.kind} {name.split('.', 1)[-1]}"


_VIRTUAL = re.compile(r"\s*CREATE\s+VIRTUAL\b", re.IGNORECASE)
_MODULE = LazyPattern(r"\s*CREATE\s+VIRTUAL\s+TABLE\b.*?\bUSING\s+([\w$]+)", re.I | re.DOTALL)
_FTS3_SHADOWS = frozenset({"content", "segments", "segdir", "docsize", "stat"})
_RTREE_SHADOWS = frozenset({"node", "parent", "rowid"})
# each module's shadow tables, by the suffix after "<virtual table>_" (SQLite's sources): a
# table of another name (`app_users` beside FTS5 `app`) is the migration's own
SHADOWS = {
    "fts5": frozenset({"data", "idx", "content", "docsize", "config"}),
    "fts4": _FTS3_SHADOWS,
    "fts3": _FTS3_SHADOWS,
    "rtree": _RTREE_SHADOWS,
    "rtree_i32": _RTREE_SHADOWS,
    "geopoly": _RTREE_SHADOWS,
}


def _without_shadows(groups: list[Shape], also: Mapping[str, Shape] | None = None) -> list[Shape]:
    """Leave out the shadow tables (`docs_content`, ...) that a virtual table (FTS5 `docs`)
    creates and drops with itself: they are its storage, not the migration's change. The
    virtual table is among `groups` or `also` (the schema after, where a virtual table dropped
    and created again is); looked up by the name's prefixes, not by a scan of the schema, and
    the rest of the name must be one of its module's shadow suffixes."""
    if not groups:
        return groups
    mine = {fold(g.name): g for g in groups}

    def shadows_of(name: str) -> frozenset[str]:
        shape = mine.get(name) or (also or {}).get(name)
        found = _MODULE.match(shape.sql_of("table")) if shape is not None else None
        return SHADOWS.get(found[1].lower(), frozenset()) if found else frozenset()

    def shadow(name: str) -> bool:
        return any(
            name[at + 1 :] in shadows_of(name[:at])
            for at, char in enumerate(name)
            if char == "_" and at
        )

    return [g for g in groups if "_" not in g.name or not shadow(fold(g.name))]


def _same_shapes(a: Shape, b: Shape) -> bool:
    """The same columns in the same order, whatever their names (both read)."""
    if not (a.read and b.read):
        return False
    return [column_shape(c) for c in a.columns] == [column_shape(c) for c in b.columns]


def _dropped(old: Shape) -> Change:
    if old.kind == "table":
        detail = f"its rows are gone, and {DEPLOYED}"
        return Change("table dropped", f"table {old.name}", detail, fold(old.name), TABLE_DROPPED)
    return Change(
        f"{old.kind} dropped", f"{old.kind} {old.name}", "queries that use it fail",
        fold(old.name), OBJECT_DROPPED,
    )  # fmt: skip


def _created(new: Shape) -> Change:
    sql = one_line(new.sql_of(new.kind))
    return Change(f"{new.kind} created", f"{new.kind} {new.name}", sql, fold(new.name))


def group_changes(
    old: Shape, new: Shape, renames: Mapping[str, str], existing: Collection[str] = ()
) -> list[Change]:
    """The changes inside one table or view that exists before and after (`existing`: the
    tables after the migration, to find references left to a table that is gone)."""
    if old.kind != new.kind:
        return [_dropped(old), _created(new)]
    key = fold(new.name)
    changes = _object_changes(old, new, key, "index")
    changes += _object_changes(old, new, key, "trigger")
    if new.kind == "view":
        if not same_sql(old.sql_of("view"), new.sql_of("view")):
            detail = "its query differs"
            changes.append(
                Change("view redefined", f"view {new.name}", detail, key, OBJECT_DROPPED)
            )
        return changes
    old_sql, new_sql = old.sql_of("table"), new.sql_of("table")
    if _VIRTUAL.match(old_sql) or _VIRTUAL.match(new_sql):
        return changes + _virtual_changes(old, new)
    added = appended(old_sql, new_sql)
    if added is not None:  # ADD COLUMN: the SQL says what was added
        changes += added_columns(new, added)
    elif old_sql != new_sql and old.read and new.read:
        old_parts, new_parts = table_parts_of(old_sql, new_sql)
        changes += column_changes(old, new, old_parts, new_parts)
        changes += check_changes(old, new, old_parts, new_parts)
        changes += option_changes(old, new)
        changes += key_changes(old, new, renames, existing)
    if old.read and new.read:
        changes += unique_changes(old, new)
    return changes


def _virtual_changes(old: Shape, new: Shape) -> list[Change]:
    """A virtual table (FTS5, R*Tree) is only ever dropped and created again: its columns are
    its module's arguments, so a column that is gone took its indexed data with it."""
    old_sql, new_sql = old.sql_of("table"), new.sql_of("table")
    if same_sql(old_sql, new_sql):
        return []
    key, where = fold(new.name), f"table {new.name}"
    detail = (
        f"was: {one_line(old_sql)}; now: {one_line(new_sql)}: it was dropped and created "
        "again, so its rows are those the migration put back"
    )
    changes = [Change("virtual table redefined", where, detail, key, COLUMN_CHANGED)]
    kept = {fold(c.name) for c in new.columns}
    for column in old.columns:
        if new.read and fold(column.name) not in kept:
            detail = f"the virtual table after the migration has no column {column.name}"
            changes.append(
                Change(
                    "column dropped",
                    f"column {new.name}.{column.name}",
                    f"{detail}: its data is gone, and {DEPLOYED}",
                    key,
                    COLUMN_DROPPED,
                    part("column", column.name),
                )
            )
    return changes


def needs_reading(
    before: Mapping[str, Shape], after: Mapping[str, Shape], keys: Iterable[str] | None
) -> tuple[set[str], set[str]]:
    """The groups (before, after) whose columns, indexes and foreign keys `classify` needs:
    tables whose own SQL changed other than by ADD COLUMN, tables that gained a UNIQUE index,
    and, when tables disappeared while others appeared, all of those (a rename?)."""
    names = set(before) | set(after) if keys is None else set(keys)
    gone = {k for k in names if k in before and k not in after and before[k].kind == "table"}
    new = {k for k in names if k in after and k not in before and after[k].kind == "table"}
    if not (gone and new):
        gone, new = set(), set()
    for key in names:
        old, now = before.get(key), after.get(key)
        if old is None or now is None or old is now or not old.kind == now.kind == "table":
            continue
        old_sql, new_sql = old.sql_of("table"), now.sql_of("table")
        reshaped = old_sql != new_sql and appended(old_sql, new_sql) is None
        if reshaped or _gains_unique_index(old, now):
            gone.add(key)
            new.add(key)
    return gone, new


_UNIQUE_INDEX = re.compile(r"\s*CREATE\s+UNIQUE\b", re.IGNORECASE)


def only_harmless_additions(before: Mapping[str, Shape], after: Mapping[str, Shape]) -> bool:
    """Whether every group of `before` is in `after` with all its objects unchanged and only
    triggers or non-UNIQUE indexes added (a migration that indexes a table): `classify` would
    find no change with a finding code. The caller makes sure no table was dropped meanwhile
    (a rebuild under the same SQL)."""
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            return False
        if new is old:
            continue
        added = set(new.objects)
        if not added.issuperset(old.objects):
            return False
        for obj in added.difference(old.objects):
            if obj.type == "trigger" or (
                obj.type == "index" and obj.sql and not _UNIQUE_INDEX.match(obj.sql)
            ):
                continue
            return False
    return True


def _gains_unique_index(old: Shape, new: Shape) -> bool:
    had = {o for o in old.objects if o.type == "index"}
    return any(
        o.type == "index" and o not in had and _UNIQUE_INDEX.match(o.sql) for o in new.objects
    )


def _object_changes(old: Shape, new: Shape, key: str, kind: str) -> list[Change]:
    """Explicit indexes or triggers dropped, redefined or created (by name); one left using a
    table that is gone is MG609 (ci.db.schema_dangling asks SQLite)."""
    before = {fold(o.name): o for o in old.objects if o.type == kind and o.sql}
    after = {fold(o.name): o for o in new.objects if o.type == kind and o.sql}
    changes = []
    for name, obj in before.items():
        made_by = part(kind, name)
        if name not in after:
            why = (
                "queries that relied on it get slower" if kind == "index" else "it no longer fires"
            )
            changes.append(
                Change(f"{kind} dropped", f"{kind} {obj.name}", why, key, OBJECT_DROPPED, made_by)
            )
        elif not same_sql(after[name].sql, obj.sql):
            detail = f"was: {one_line(obj.sql)}; now: {one_line(after[name].sql)}"
            changes.append(
                Change(
                    f"{kind} redefined", f"{kind} {obj.name}", detail, key, OBJECT_DROPPED, made_by
                )
            )
    for name, obj in after.items():
        made_by = part(kind, name)
        if name not in before:
            changes.append(
                Change(
                    f"{kind} created", f"{kind} {obj.name}", one_line(obj.sql), key, None, made_by
                )
            )
    return changes
