"""What differs between two fingerprints, in words: one reviewer-readable line per difference,
worded for a rollback, a re-apply or a snapshot's drift (`Wording`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ci.db.fingerprint_records import Column, Fingerprint, ForeignKey, Index, TablePrint


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
