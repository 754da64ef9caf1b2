"""The changes inside one table that exists before and after a migration: its columns, UNIQUE
indexes and constraints, CHECKs and foreign keys (ci.db.schema_changes does the rest).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ci.core.sqltext import LazyPattern
from ci.db.schema_change import (
    COLUMN_CHANGED,
    COLUMN_DROPPED,
    CONSTRAINT_ADDED,
    DANGLING,
    DEPLOYED,
    NOT_NULL_ADDED,
    RENAMED,
    UNIQUE_ADDED,
    Change,
    normalised,
    part,
)
from ci.db.schema_shapes import EXCLUDED, Column, ForeignKey, Shape, fold
from ci.db.table_parts import TableParts, table_parts

NO_PARTS = TableParts(frozenset(), ())


def table_parts_of(old: str, new: str) -> tuple[TableParts, TableParts]:
    """CHECKs and collations of both tables (the same SQL: nothing to compare)."""
    if old == new:
        return NO_PARTS, NO_PARTS
    return table_parts(normalised(old)), table_parts(normalised(new))


def appended(old: str, new: str) -> str | None:
    """What ADD COLUMN inserted into a table's SQL (before its closing parenthesis, where it
    changes no existing column), or None when the SQL changed otherwise (or not at all)."""
    end = old.rfind(")")
    if end <= 0 or len(new) <= len(old) or not new.startswith(old[:end]):
        return None
    if not new.endswith(old[end:]):
        return None
    return new[end : len(new) - (len(old) - end)]


_DEFINITION = LazyPattern(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[(),]|[^'"`\[(),]+"""
)
_NAME = LazyPattern(r"""\s*("(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[^\s,]+)\s*(.*)""", re.DOTALL)


def added_columns(table: Shape, text: str) -> list[Change]:
    """ "column added" for each definition in `text` (", a TEXT, b INTEGER DEFAULT 0")."""
    definitions, depth, current = [], 0, ""
    for token in _DEFINITION.findall(text):
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "," and depth == 0:
            definitions.append(current)
            current = ""
        else:
            current += token
    definitions.append(current)
    changes = []
    for definition in definitions:
        match = _NAME.match(definition)
        if match is None or not definition.strip():
            continue
        name = match[1].strip('"`[]')
        where = f"column {table.name}.{name}"
        detail = " ".join(match[2].split()) or "no type"
        changes.append(
            Change("column added", where, detail, fold(table.name), None, part("column", name))
        )
    return changes


def column_changes(
    old: Shape, new: Shape, old_parts: TableParts, new_parts: TableParts
) -> list[Change]:
    table, key = new.name, fold(new.name)
    before = {fold(c.name): c for c in old.columns}
    after = {fold(c.name): c for c in new.columns}
    added = [c for name, c in after.items() if name not in before]
    changes = []
    for name, column in before.items():
        if name in after:
            collations = (old_parts.collation(name), new_parts.collation(name))
            changes += _one_column(table, key, column, after[name], collations)
            changes += _generated_change(old, new, column, after[name])
            continue
        twin = next((a for a in added if column_shape(a) == column_shape(column)), None)
        if twin is None:
            detail = f"the table after the migration has no column {column.name}: its data is gone"
            where = f"column {table}.{column.name}"
            changes.append(
                Change(
                    "column dropped",
                    where,
                    f"{detail}, and {DEPLOYED}",
                    key,
                    COLUMN_DROPPED,
                    part("column", column.name),
                )
            )
            continue
        added.remove(twin)
        detail = f"renamed to {twin.name}; {DEPLOYED}"
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


_GENERATED = (2, 3)  # table_xinfo's `hidden` of a VIRTUAL / STORED generated column


def _generated_change(old: Shape, new: Shape, was: Column, now: Column) -> list[Change]:
    """A generated column turned plain (its values are then what the rebuild copied: NULL if
    nothing), a plain one turned generated, or its expression changed."""
    if was.hidden not in _GENERATED and now.hidden not in _GENERATED:
        return []
    if now.hidden not in _GENERATED:
        detail = "generated column turned plain: its values are what the migration copied"
    elif was.hidden not in _GENERATED:
        detail = "plain column turned generated: its stored values are replaced"
    else:
        before = generated_expressions(normalised(old.sql_of("table"))).get(fold(was.name))
        after = generated_expressions(normalised(new.sql_of("table"))).get(fold(now.name))
        if before == after:
            return []
        detail = f"generated as {_tight(before)} -> {_tight(after)}: every row's value changes"
    where = f"column {new.name}.{now.name}"
    return [
        Change(
            "generated column changed",
            where,
            detail,
            fold(new.name),
            COLUMN_CHANGED,
            part("column", now.name),
        )
    ]


def _tight(expression: str | None) -> str:
    """A normalised expression as written: "( upper ( name ) )" -> "(upper(name))"."""
    return re.sub(r" ?([()]) ?", r"\1", expression or "nothing")


_AS = LazyPattern(r"\bas\s*\(")


def generated_expressions(sql: str) -> dict[str, str]:
    """{column: "(expression)"} of the generated columns of a normalised CREATE TABLE."""
    start = sql.find("(")
    found: dict[str, str] = {}
    for definition in _split(sql[start + 1 :]) if start >= 0 else []:
        match = _NAME.match(definition)
        generated = _AS.search(match[2]) if match is not None else None
        if match is None or generated is None:
            continue
        tail, depth = match[2][generated.end() - 1 :], 0
        for end, char in enumerate(tail):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                found[fold(match[1].strip('"`[]'))] = tail[: end + 1]
                break
    return found


def _split(text: str) -> list[str]:
    """The comma-separated definitions of a table's body, up to its closing parenthesis."""
    definitions, depth, current = [], 0, ""
    for token in _DEFINITION.findall(text):
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth < 0:
            break
        if token == "," and depth == 0:
            definitions.append(current)
            current = ""
        else:
            current += token
    return [*definitions, current]


def unique_changes(old: Shape, new: Shape) -> list[Change]:
    """A UNIQUE index or constraint on columns that were not unique before."""
    before = {tuple(fold(c) if c else "" for c in i.columns) for i in old.indexes if i.unique}
    changes = []
    for index in new.indexes:
        columns = tuple(fold(c) if c else "" for c in index.columns)
        if not index.unique or columns in before or index.origin == "pk":
            continue
        explicit = index.origin == "c"
        what = f"UNIQUE index {index.name}" if explicit else "UNIQUE constraint"
        detail = (
            f"{what} on ({', '.join(columns)}) added to an existing table: fails on duplicate "
            "rows in production even when the sample has none"
        )
        where, made_by = f"table {new.name}", part("index", index.name) if explicit else None
        changes.append(Change("UNIQUE added", where, detail, fold(new.name), UNIQUE_ADDED, made_by))
    return changes


def check_changes(
    old: Shape, new: Shape, old_parts: TableParts, new_parts: TableParts
) -> list[Change]:
    """CHECKs added or removed, compared normalised, each shown as its CREATE TABLE wrote it."""
    key, where = fold(new.name), f"table {new.name}"
    changes = []
    added = sorted(new_parts.checks - old_parts.checks)
    removed = sorted(old_parts.checks - new_parts.checks)
    written = checks_as_written(new.sql_of("table")) if added else {}
    for check in added:
        detail = (
            f"CHECK {written.get(check, check)} added or changed: fails on the production rows "
            "that break it, even when the sample has none"
        )
        changes.append(Change("CHECK added", where, detail, key, CONSTRAINT_ADDED))
    written = checks_as_written(old.sql_of("table")) if removed else {}
    for check in removed:
        changes.append(Change("CHECK removed", where, f"CHECK {written.get(check, check)}", key))
    return changes


def checks_as_written(sql: str) -> dict[str, str]:
    """{normalised expression: the expression as `sql` spells it} of each CHECK of a CREATE
    TABLE: a message shows the user's own text, not the normalised tokens compared."""
    from ci.db.fingerprint_schema import _SQL_TOKEN  # the tokens normalise_sql reads

    every = list(_SQL_TOKEN.finditer(sql))
    tokens = [i for i, m in enumerate(every) if m.lastgroup not in ("space", "comment")]
    found: dict[str, str] = {}
    for at, index in enumerate(tokens[:-1]):
        token, opening = every[index], every[tokens[at + 1]]
        if token.lastgroup != "word" or token.group().lower() != "check" or opening.group() != "(":
            continue
        depth = 0
        for end in tokens[at + 1 :]:
            depth += {"(": 1, ")": -1}.get(every[end].group(), 0)
            if depth == 0:
                text = _one_line_as_written(every[tokens[at + 1] : end + 1])
                found[normalised(text)] = text
                break
    return found


def _one_line_as_written(tokens: list[re.Match[str]]) -> str:
    """The tokens' text as written, on one line: a line break becomes a space, a comment goes."""
    written = ""
    for token in tokens:
        text = token.group()
        if token.lastgroup == "comment" or (token.lastgroup == "space" and "\n" in text):
            text = "" if written[-1:].isspace() else " "
        written += text
    return written


def key_changes(
    old: Shape, new: Shape, renames: Mapping[str, str], existing: Collection[str] = ()
) -> list[Change]:
    """Foreign keys added, changed or removed; one that follows a renamed table is the same.
    One whose parent is not among the `existing` tables (folded names, when given) fails
    every write of its rows: MG609."""

    def followed(fk: ForeignKey) -> ForeignKey:
        return fk._replace(table=renames.get(fold(fk.table), fold(fk.table)))

    before = {fk.columns: followed(fk) for fk in old.foreign_keys}
    after = {fk.columns: fk._replace(table=fold(fk.table)) for fk in new.foreign_keys}
    key, where = fold(new.name), f"table {new.name}"
    changes = []
    for columns, fk in after.items():
        if before.get(columns) == fk:
            continue
        verb = "changed" if columns in before else "added"
        if existing and fk.table not in existing and fk.table not in EXCLUDED:
            detail = (
                f"foreign key ({', '.join(columns)}) now points at {fk.table}, which does not "
                "exist after the migration: every insert into this table fails"
            )
            changes.append(Change("foreign key to a missing table", where, detail, key, DANGLING))
            continue
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


def column_shape(column: Column) -> tuple[object, ...]:
    """What a column is apart from its name: a rename keeps it."""
    return (column.type.lower(), column.notnull, column.default, column.pk, column.hidden)
