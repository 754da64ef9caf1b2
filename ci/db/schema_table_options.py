"""Table-level changes that no PRAGMA reports, read from the SQL of a table or trigger before
and after a migration: STRICT and AUTOINCREMENT (`option_changes`), and the tables a trigger
redefined by a RENAME now uses that no longer exist (`missing_tables`). Beside
ci.db.schema_table_diff, which compares columns, keys and constraints.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from ci.db.schema_change import COLUMN_CHANGED, CONSTRAINT_ADDED, Change, normalised
from ci.db.schema_shapes import EXCLUDED, Shape, fold

_WORD = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[\w$]+|[^\s\w]""")


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


_TABLE_AFTER = frozenset({"from", "into", "update", "join"})
_NOT_TABLES = frozenset({"on", "of", "or", "select", "new", "old"})


def missing_tables(old_sql: str, new_sql: str, existing: Collection[str]) -> list[str]:
    """Tables a redefined trigger's SQL now names (after FROM, INTO, UPDATE or JOIN) that its
    old SQL did not and that are not among the `existing` (a RENAME rewrote it to a table
    dropped later). Table-valued functions (a name before "(") are not tables."""

    def named(sql: str) -> set[str]:
        words = _WORD.findall(normalised(sql))
        return {
            word.strip('"`[]')
            for before, word, after in zip(words, words[1:], [*words[2:], ""], strict=False)
            if before in _TABLE_AFTER and after not in ("(", ".") and word not in _NOT_TABLES
        }

    gone = named(new_sql) - named(old_sql)
    return sorted(name for name in gone if name not in existing and name not in EXCLUDED)
