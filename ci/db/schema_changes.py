"""What a migration changed in the schema, classified: two schemas in, `Change`s out.

Pure: it compares the groups before and after (ci.db.schema_shapes records: a table or view with
its indexes and triggers, as a fingerprint groups them) and reads nothing. Every difference
becomes a `Change` (the reviewer's changelog); the risky ones carry a finding code
(MG601-MG608) and a severity, the rest (a new table, column or index) are "info". Which statement
made a change is ci.db.schema_watch's business: it fills `line` and `offset`.

A table or column that disappears while one of the same shape appears is a rename (by RENAME, or
dropped and added again): on an empty database the shape is all there is to compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from ci.db.schema_shapes import Column, ForeignKey, Shape
from ci.db.table_parts import TableParts, table_parts

TABLE_DROPPED = "MG601"
COLUMN_DROPPED = "MG602"
RENAMED = "MG603"
COLUMN_CHANGED = "MG604"
NOT_NULL_ADDED = "MG605"
UNIQUE_ADDED = "MG606"
CONSTRAINT_ADDED = "MG607"
OBJECT_DROPPED = "MG608"

# The codes whose findings fail the check: data is gone. The others are warnings: a risk a
# reviewer weighs (duplicates in production, an app version reading the old name).
ERRORS = frozenset({TABLE_DROPPED, COLUMN_DROPPED})

DEPLOYED = (
    "the app version still deployed reads it: drop or rename it in a later release, after "
    "the code stops reading it (expand/contract)"
)


class Change(NamedTuple):
    """One difference. `group` is the table or view it belongs to (lower case), by which the
    statement responsible is found; `line`/`offset` are that statement's (None: not known)."""

    kind: str  # "column dropped", "index created", ...
    target: str  # "column patients.notes", "table vitals", "index idx_vitals_time"
    detail: str  # what changed, in words
    group: str
    code: str | None = None  # None: not risky (a changelog entry only)
    part: str | None = None  # "index name" / "trigger name": found by the statement naming it
    line: int | None = None
    offset: int | None = None

    @property
    def risky(self) -> bool:
        return self.code is not None

    @property
    def severity(self) -> str:
        if self.code is None:
            return "info"
        return "error" if self.code in ERRORS else "warning"

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "object": self.target,
            "detail": self.detail,
            "severity": self.severity,
            "risky": self.risky,
            "code": self.code,
            "line": self.line,
        }


def classify(
    before: Mapping[str, Shape],
    after: Mapping[str, Shape],
    keys: Iterable[str] | None = None,
) -> list[Change]:
    """Every change between the groups of two schema fingerprints (only `keys`, if given)."""
    names = sorted(set(before) | set(after) if keys is None else set(keys))
    gone = [before[k] for k in names if k in before and k not in after]
    new = [after[k] for k in names if k in after and k not in before]
    changes: list[Change] = []
    renames: dict[str, str] = {}
    inner: list[tuple[Shape, Shape]] = []  # renamed tables: their own changes
    for old in gone:
        twin = next(
            (n for n in new if n.kind == old.kind == "table" and _same_shapes(old, n)), None
        )
        if twin is None:
            changes.append(_dropped(old))
            continue
        new.remove(twin)
        renames[old.name.lower()] = twin.name.lower()
        changes.append(
            Change(
                "table renamed",
                f"table {old.name}",
                f"renamed to {twin.name}: {DEPLOYED}",
                old.name.lower(),
                RENAMED,
            )
        )
        inner.append((old, twin))
    for created in new:
        changes.append(_created(created))
        bare = Shape(created.name, ())
        for kind in ("index", "trigger"):
            changes += _object_changes(bare, created, created.name.lower(), kind)
    for old, twin in inner:
        changes += group_changes(old, twin, renames)
    for key in names:
        was, now = before.get(key), after.get(key)
        if was is not None and now is not None and was != now:
            changes += group_changes(was, now, renames)
    return changes


def _same_shapes(a: Shape, b: Shape) -> bool:
    """The same columns in the same order, whatever their names."""
    return [_shape(c) for c in a.columns] == [_shape(c) for c in b.columns]


def _shape(column: Column) -> tuple[object, ...]:
    return (column.type.lower(), column.notnull, column.default, column.pk, column.hidden)


def _dropped(old: Shape) -> Change:
    if old.kind == "table":
        detail = f"its rows are gone; {DEPLOYED}"
        return Change("table dropped", f"table {old.name}", detail, old.name.lower(), TABLE_DROPPED)
    return Change(
        f"{old.kind} dropped", f"{old.kind} {old.name}", "queries that use it fail",
        old.name.lower(), OBJECT_DROPPED,
    )  # fmt: skip


def _created(new: Shape) -> Change:
    if new.kind == "table":
        columns = ", ".join(c.name for c in new.columns)
        return Change("table created", f"table {new.name}", f"columns {columns}", new.name.lower())
    return Change(f"{new.kind} created", f"{new.kind} {new.name}", "", new.name.lower())


def group_changes(old: Shape, new: Shape, renames: Mapping[str, str]) -> list[Change]:
    """The changes inside one table or view that exists before and after."""
    if old.kind != new.kind:
        return [_dropped(old), _created(new)]
    key = new.name.lower()
    changes = _object_changes(old, new, key, "index") + _object_changes(old, new, key, "trigger")
    if new.kind == "view":
        if not same_sql(old.sql_of("view"), new.sql_of("view")):
            detail = "its query differs"
            changes.append(
                Change("view redefined", f"view {new.name}", detail, key, OBJECT_DROPPED)
            )
        return changes
    old_parts, new_parts = _parts(old.sql_of("table"), new.sql_of("table"))
    changes += _column_changes(old, new, old_parts, new_parts)
    changes += _unique_changes(old, new)
    changes += _check_changes(new, old_parts, new_parts)
    changes += _key_changes(old, new, renames)
    return changes


NO_PARTS = TableParts(frozenset(), ())


def _parts(old: str, new: str) -> tuple[TableParts, TableParts]:
    """CHECKs and collations of both tables, read only when the table's own SQL changed other
    than by ADD COLUMN (which inserts the new definition before the closing parenthesis and
    changes no existing column's)."""
    end = old.rfind(")")
    if old == new or (end > 0 and new.startswith(old[:end]) and new.endswith(old[end:])):
        return NO_PARTS, NO_PARTS
    return table_parts(normalised(old)), table_parts(normalised(new))


def normalised(sql: str) -> str:
    # imported here: the fingerprint modules pull in dataclasses and hashlib, and most runs
    # never compare two different texts
    from ci.db.fingerprint_schema import normalise_sql

    return normalise_sql(sql)


def same_sql(a: str, b: str) -> bool:
    """Equal once comments, whitespace, case and unneeded quotes are left out (a RENAME
    rewrites the SQL of indexes and triggers with quotes)."""
    return a == b or normalised(a) == normalised(b)


def one_line(sql: str) -> str:
    return " ".join(sql.split())


def part(kind: str, name: str) -> str:
    """How an index or trigger is named to find the statement that made it."""
    return f"{kind} {name.lower()}"


def _object_changes(old: Shape, new: Shape, key: str, kind: str) -> list[Change]:
    """Explicit indexes or triggers dropped, redefined or created (by name)."""
    before = {o.name.lower(): o for o in old.objects if o.type == kind and o.sql}
    after = {o.name.lower(): o for o in new.objects if o.type == kind and o.sql}
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


def _column_changes(
    old: Shape, new: Shape, old_parts: TableParts, new_parts: TableParts
) -> list[Change]:
    table, key = new.name, new.name.lower()
    before = {c.name.lower(): c for c in old.columns}
    after = {c.name.lower(): c for c in new.columns}
    added = [c for name, c in after.items() if name not in before]
    changes = []
    for name, column in before.items():
        if name in after:
            collations = (old_parts.collation(name), new_parts.collation(name))
            changes += _one_column(table, key, column, after[name], collations)
            continue
        twin = next((a for a in added if _shape(a) == _shape(column)), None)
        if twin is None:
            detail = f"the table after the migration has no column {column.name}: its data is gone"
            where = f"column {table}.{column.name}"
            changes.append(
                Change(
                    "column dropped",
                    where,
                    f"{detail}; {DEPLOYED}",
                    key,
                    COLUMN_DROPPED,
                    part("column", column.name),
                )
            )
            continue
        added.remove(twin)
        detail = f"renamed to {twin.name}: {DEPLOYED}"
        changes.append(
            Change(
                "column renamed",
                f"column {table}.{column.name}",
                detail,
                key,
                RENAMED,
                part("column", column.name),
            )
        )
    for column in added:
        changes.append(
            Change(
                "column added",
                f"column {table}.{column.name}",
                _describe(column),
                key,
                None,
                part("column", column.name),
            )
        )
    return changes


def _describe(column: Column) -> str:
    parts = [column.type or "no type"]
    if column.notnull:
        parts.append("NOT NULL")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    return " ".join(parts)


def _one_column(
    table: str, key: str, old: Column, new: Column, collations: tuple[str, str]
) -> list[Change]:
    where = f"column {table}.{new.name}"
    changes = []
    if old.type.lower() != new.type.lower():
        detail = f"type {old.type or 'none'} -> {new.type or 'none'}: values keep their old type"
        changes.append(
            Change(
                "column type changed", where, detail, key, COLUMN_CHANGED, part("column", new.name)
            )
        )
    if old.default != new.default:
        detail = f"default {old.default} -> {new.default}"
        changes.append(
            Change(
                "column default changed",
                where,
                detail,
                key,
                COLUMN_CHANGED,
                part("column", new.name),
            )
        )
    if old.pk != new.pk:
        detail = f"primary key position {old.pk} -> {new.pk}"
        changes.append(
            Change(
                "primary key changed", where, detail, key, COLUMN_CHANGED, part("column", new.name)
            )
        )
    if collations[0] != collations[1]:
        detail = f"collation {collations[0] or 'binary'} -> {collations[1] or 'binary'}"
        changes.append(
            Change(
                "column collation changed",
                where,
                detail,
                key,
                COLUMN_CHANGED,
                part("column", new.name),
            )
        )
    if old.notnull and not new.notnull:
        changes.append(
            Change(
                "NOT NULL removed",
                where,
                "NULL is now allowed",
                key,
                None,
                part("column", new.name),
            )
        )
    elif new.notnull and not old.notnull:
        detail = (
            "NOT NULL added to an existing column: fails on the production rows where it is "
            "NULL, even when the sample has none"
        )
        changes.append(
            Change("NOT NULL added", where, detail, key, NOT_NULL_ADDED, part("column", new.name))
        )
    return changes


def _unique_changes(old: Shape, new: Shape) -> list[Change]:
    """A UNIQUE index or constraint on columns that were not unique before."""
    before = {tuple(c.lower() if c else "" for c in i.columns) for i in old.indexes if i.unique}
    changes = []
    for index in new.indexes:
        columns = tuple(c.lower() if c else "" for c in index.columns)
        if not index.unique or columns in before or index.origin == "pk":
            continue
        explicit = index.origin == "c"
        what = f"UNIQUE index {index.name}" if explicit else "UNIQUE constraint"
        detail = (
            f"{what} on ({', '.join(columns)}) added to an existing table: fails on duplicate "
            "rows in production even when the sample has none"
        )
        where, made_by = f"table {new.name}", part("index", index.name) if explicit else None
        changes.append(
            Change("UNIQUE added", where, detail, new.name.lower(), UNIQUE_ADDED, made_by)
        )
    return changes


def _check_changes(new: Shape, old_parts: TableParts, new_parts: TableParts) -> list[Change]:
    key, where = new.name.lower(), f"table {new.name}"
    changes = []
    for check in sorted(new_parts.checks - old_parts.checks):
        detail = (
            f"CHECK {check} added or changed: fails on the production rows that break it, even "
            "when the sample has none"
        )
        changes.append(Change("CHECK added", where, detail, key, CONSTRAINT_ADDED))
    for check in sorted(old_parts.checks - new_parts.checks):
        changes.append(Change("CHECK removed", where, f"CHECK {check}", key))
    return changes


def _key_changes(old: Shape, new: Shape, renames: Mapping[str, str]) -> list[Change]:
    """Foreign keys added, changed or removed; one that follows a renamed table is the same."""

    def followed(fk: ForeignKey) -> ForeignKey:
        return fk._replace(table=renames.get(fk.table.lower(), fk.table.lower()))

    before = {fk.columns: followed(fk) for fk in old.foreign_keys}
    after = {fk.columns: fk._replace(table=fk.table.lower()) for fk in new.foreign_keys}
    key, where = new.name.lower(), f"table {new.name}"
    changes = []
    for columns, fk in after.items():
        if before.get(columns) == fk:
            continue
        verb = "changed" if columns in before else "added"
        detail = (
            f"foreign key ({', '.join(columns)}) -> {fk.table} {verb} (ON DELETE {fk.on_delete}): "
            "production rows without a parent fail foreign_key_check"
        )
        changes.append(Change(f"foreign key {verb}", where, detail, key, CONSTRAINT_ADDED))
    for columns, fk in before.items():
        if columns not in after:
            detail = f"foreign key ({', '.join(columns)}) -> {fk.table}"
            changes.append(Change("foreign key removed", where, detail, key))
    return changes
