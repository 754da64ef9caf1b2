"""What differs between two fingerprints, in words: one reviewer-readable line per difference,
worded for a rollback, a re-apply or a snapshot's drift (`Wording`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ci.db.fingerprint_records import Column, Fingerprint, ForeignKey, Index, TablePrint
from ci.db.fingerprint_sql import IndexParts, TableParts, index_parts, table_parts


@dataclass(frozen=True)
class Wording:
    """How a difference reads: `before` is what was expected, `after` what was found."""

    missing: str = "missing"
    extra: str = "left behind"
    extra_column: str = "still present"
    header: str = "{pragma} {expected} before, {found} after"
    # a value that differs: `{expected} {was}, {found} {now}`
    was: str = "before"
    now: str = "after"
    statistics: str = "ANALYZE statistics of {table} left behind by the migration"


ROLLBACK = Wording()
REAPPLY = Wording(
    missing="missing after re-applying",
    extra="only there after re-applying",
    extra_column="only there after re-applying",
    header="{pragma} is {found} after re-applying, {expected} before",
    was="the first time",
    now="after re-applying",
    statistics="ANALYZE statistics of {table} only there after re-applying",
)
DRIFT = Wording(
    missing="in the snapshot but not created by the migrations",
    extra="created by the migrations but not in the snapshot",
    extra_column="created by the migrations but not in the snapshot",
    was="in the snapshot",
    now="from the migrations",
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
    lines += _statistics_differences(before, after, wording)
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


def _statistics_differences(before: Fingerprint, after: Fingerprint, wording: Wording) -> list[str]:
    """Statistics where there were none: only ANALYZE makes them, so the migration did. Those
    that went missing are not a difference: dropping a table or index (a rebuild) deletes its
    statistics, and nothing but ANALYZE could bring them back."""
    if before.statistics is None or after.statistics is None:
        return []
    new = sorted(set(after.statistics) - set(before.statistics))
    return [wording.statistics.format(table=table) for table in new]


def _group_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    lines = _object_differences(old, new, wording)
    lines += _column_differences(old, new, wording)
    lines += _table_sql_differences(old, new, wording)
    lines += _index_differences(old, new, wording)
    lines += _foreign_key_differences(old, new, wording)
    if not lines and old[:5] != new[:5]:
        lines.append(f"{old.kind} {old.name}: definition differs")
    lines += _data_differences(old, new, wording)
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
    old_sql, new_sql = _sql_of(old, "index"), _sql_of(new, "index")
    lines = []
    for name in sorted(set(old_indexes) | set(new_indexes)):
        before, after = old_indexes.get(name), new_indexes.get(name)
        if before == after and old_sql.get(name) == new_sql.get(name):
            continue
        if before is None:
            assert after is not None
            lines.append(f"{_index_kind(after)} {after.name} on {new.name} {wording.extra}")
        elif after is None:
            lines.append(f"{_index_kind(before)} {before.name} on {old.name} {wording.missing}")
        else:
            old_parts = index_parts(old_sql.get(name, ""))
            changes = _index_changes(before, after, old_parts, index_parts(new_sql.get(name, "")))
            lines += [f"index {before.name} {change}" for change in changes] or [
                f"index {before.name} definition changed"
            ]
    return lines


def _sql_of(group: TablePrint, kind: str) -> dict[str, str]:
    return {o.name.lower(): o.sql for o in group.objects if o.type == kind}


def _index_changes(
    before: Index, after: Index, old: IndexParts | None, new: IndexParts | None
) -> list[str]:
    """What changed in an index, in the words of CREATE INDEX: UNIQUE, its columns as written
    (DESC, COLLATE, expressions) and its WHERE."""
    changes = []
    if before.unique != after.unique:
        changes.append(f"{_unique(before)} -> {_unique(after)}")
    if old is not None and new is not None:
        if old.columns != new.columns:
            changes.append(f"columns ({', '.join(old.columns)}) -> ({', '.join(new.columns)})")
        if old.where != new.where:
            changes.append(f"{_where(old.where)} -> {_where(new.where)}")
    elif before.columns != after.columns:
        changes.append(f"columns ({_index_columns(before)}) -> ({_index_columns(after)})")
    return changes


def _unique(index: Index) -> str:
    return "UNIQUE" if index.unique else "not UNIQUE"


def _where(where: str | None) -> str:
    """`WHERE a > 0` (a partial index) or `no WHERE` (every row)."""
    return "no WHERE (every row)" if where is None else f"WHERE {where}"


def _table_sql_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    """What differs in CREATE TABLE that no PRAGMA reports: STRICT, WITHOUT ROWID,
    AUTOINCREMENT, COLLATE, CHECK."""
    old_sql, new_sql = _sql_of(old, "table"), _sql_of(new, "table")
    key = old.name.lower()
    if old_sql.get(key) == new_sql.get(key, old_sql.get(key)):
        return []
    before, after = table_parts(old_sql[key]), table_parts(new_sql.get(key, ""))
    if before is None or after is None:
        return []
    table = old.name
    lines = [
        f"table {table}: {_option(option, before)} -> {_option(option, after)}"
        for option in ("strict", "without rowid")
        if (option in before.options) != (option in after.options)
    ]
    if before.autoincrement != after.autoincrement:
        lines.append(f"table {table}: {_autoincrement(before)} -> {_autoincrement(after)}")
    # columns missing or left behind are reported as such, with whatever they were declared with
    both = {c.name.lower() for c in old.columns} & {c.name.lower() for c in new.columns}
    for column in sorted((set(before.collations) | set(after.collations)) & both):
        was, now = before.collations.get(column, "BINARY"), after.collations.get(column, "BINARY")
        if was != now:
            lines.append(f"column {table}.{_column_name(old, column)} COLLATE {was} -> {now}")
    return lines + _check_differences(old, before, after, both, wording)


def _option(option: str, parts: TableParts) -> str:
    if option == "without rowid":
        return "WITHOUT ROWID" if option in parts.options else "rowid table"
    return option.upper() if option in parts.options else f"not {option.upper()}"


def _autoincrement(parts: TableParts) -> str:
    return "AUTOINCREMENT" if parts.autoincrement else "no AUTOINCREMENT"


def _column_name(group: TablePrint, lower: str) -> str:
    return next((c.name for c in group.columns if c.name.lower() == lower), lower)


def _check_differences(
    group: TablePrint, before: TableParts, after: TableParts, both: set[str], wording: Wording
) -> list[str]:
    """CHECK constraints by the column they are written on (or the table; `both`: the columns
    there before and after): one that changed reads `old -> new`, others are missing or left
    behind."""
    lines = []
    owners = {owner for owner, _ in before.checks ^ after.checks if owner is None or owner in both}
    for owner in sorted(owners, key=lambda o: o or ""):
        column = None if owner is None else _column_name(group, owner)
        where = f"table {group.name}" if column is None else f"column {group.name}.{column}"
        lost = sorted(text for o, text in before.checks - after.checks if o == owner)
        found = sorted(text for o, text in after.checks - before.checks if o == owner)
        if len(lost) == len(found) == 1:
            lines.append(f"{where} {lost[0]} -> {found[0]}")
            continue
        lines += [f"{where} {text} {wording.missing}" for text in lost]
        lines += [f"{where} {text} {wording.extra}" for text in found]
    return lines


def _index_columns(index: Index) -> str:
    """`a, b`; SQLite names no column for an expression (`lower(a)`)."""
    return ", ".join("(expression)" if c is None else c for c in index.columns)


def _index_kind(index: Index) -> str:
    return "unique index" if index.unique and index.origin == "c" else "index"


def _foreign_key_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    """Keys missing or left behind; a key on the same columns and parent whose ON DELETE /
    ON UPDATE action changed is one line that says so."""
    lost = sorted(set(old.foreign_keys) - set(new.foreign_keys))
    found = sorted(set(new.foreign_keys) - set(old.foreign_keys))
    found_by_target = {key[:3]: key for key in found}
    lines = []
    for key in lost:
        other = found_by_target.pop(key[:3], None)
        if other is None:
            lines.append(f"foreign key {_fk(old.name, key)} {wording.missing}")
            continue
        found.remove(other)
        for action, was, now in (
            ("ON DELETE", key.on_delete, other.on_delete),
            ("ON UPDATE", key.on_update, other.on_update),
        ):
            if was != now:
                lines.append(f"foreign key {_fk(old.name, key)} {action} {was} -> {action} {now}")
    for key in found:
        lines.append(f"foreign key {_fk(new.name, key)} {wording.extra}")
    return lines


def _fk(table: str, key: ForeignKey) -> str:
    to = ", ".join(c or "(primary key)" for c in key.to)
    return f"{table}({', '.join(key.columns)}) -> {key.table}({to})"


def _data_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    lines = _row_differences(old, new)
    if old.sequence is not None and new.sequence is not None and old.sequence != new.sequence:
        lines.append(
            f"AUTOINCREMENT counter of {old.name}: "
            f"{old.sequence} {wording.was}, {new.sequence} {wording.now}"
        )
    return lines


def _row_differences(old: TablePrint, new: TablePrint) -> list[str]:
    if old.rows is None or new.rows is None:
        return []
    if new.rows < old.rows:
        return [f"table {old.name}: {rows(old.rows - new.rows)} lost"]
    if new.rows > old.rows:
        return [f"table {old.name}: {rows(new.rows - old.rows)} extra"]
    same_shape = [c.name for c in old.columns] == [c.name for c in new.columns]
    if old.digest != new.digest and same_shape:
        return [f"table {old.name}: content changed (same row count)"]
    if old.rowids != new.rowids and None not in (old.rowids, new.rowids):
        return [
            f"table {old.name}: rows renumbered (same values, other rowid values): a table "
            "rebuild copies the rows without their rowid (INSERT INTO ... (rowid, ...) "
            "SELECT rowid, ... keeps it)"
        ]
    return []


def rows(count: int) -> str:
    """`1 row`, `1,204 rows`."""
    return f"{count:,} row" if count == 1 else f"{count:,} rows"


def row_counts(printed: Fingerprint) -> dict[str, int]:
    """{table name: rows} for every table that has a count."""
    return {g.name: g.rows for g in printed.groups.values() if g.rows is not None}
