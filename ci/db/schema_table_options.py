"""Table-level changes that no PRAGMA reports, read from the SQL of a table or trigger before
and after a migration: STRICT and AUTOINCREMENT (`option_changes`). Beside
ci.db.schema_table_diff, which compares columns, keys and constraints.
"""

from __future__ import annotations

from ci.core.sqltext import LazyPattern
from ci.db.schema_change import COLUMN_CHANGED, CONSTRAINT_ADDED, Change, normalised
from ci.db.schema_shapes import Shape, fold

_WORD = LazyPattern(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[\w$]+|[^\s\w]""")


def option_changes(old: Shape, new: Shape) -> list[Change]:
    """STRICT added (rows of another type than declared fail the copy, like a CHECK: MG607)
    or AUTOINCREMENT dropped (the ids of deleted rows come back: MG604); the other way round
    is a changelog entry."""
    was, now = _options(old.sql_of("table")), _options(new.sql_of("table"))
    key, where = fold(new.name), f"table {new.name}"
    changes = []
    if "strict" in now - was:
        detail = (
            "fails on the production rows whose values do not have the declared "
            "type, even when the sample has none"
        )
        changes.append(Change("STRICT added", where, detail, key, CONSTRAINT_ADDED))
    elif "strict" in was - now:
        changes.append(Change("STRICT removed", where, "values of any type are accepted", key))
    if "autoincrement" in was - now:
        detail = (
            "the ids of deleted rows can be given again, and rows that "
            "still refer to an old id then point at a new row"
        )
        changes.append(Change("AUTOINCREMENT dropped", where, detail, key, COLUMN_CHANGED))
    elif "autoincrement" in now - was:
        changes.append(Change("AUTOINCREMENT added", where, "ids are never given again", key))
    return changes


def _options(sql: str) -> set[str]:
    """Which of STRICT (after the closing parenthesis) and AUTOINCREMENT a table's SQL has."""
    words = _WORD.findall(normalised(sql))  # lower case, no comments
    found = {"autoincrement"} & set(words)
    closing = len(words) - 1 - words[::-1].index(")") if ")" in words else len(words)
    return found | ({"strict"} & set(words[closing + 1 :]))
