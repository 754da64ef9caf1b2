"""What a table's CREATE statement says that no PRAGMA reports: its CHECK constraints and each
column's COLLATE. Read from the normalised SQL of a fingerprint (ci.db.fingerprint_schema's
`normalise_sql`: tokens separated by one space, lower case outside strings).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from ci.core.sqltext import LazyPattern

_TABLE_CONSTRAINT = {"constraint", "primary", "unique", "check", "foreign"}
_TOKEN = LazyPattern(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\S+")


class TableParts(NamedTuple):
    checks: frozenset[str]  # each CHECK's expression, "(...)" as normalised
    collations: tuple[tuple[str, str], ...]  # (column, collation) for columns that name one

    def collation(self, column: str) -> str:
        return next((c for name, c in self.collations if name == column), "")


@lru_cache(maxsize=4096)
def table_parts(sql: str) -> TableParts:
    """CHECKs and collations of a normalised `create table` statement ("" for none)."""
    tokens = _TOKEN.findall(sql)
    if "(" not in tokens:
        return TableParts(frozenset(), ())
    start = tokens.index("(")
    if "as" in tokens[:start]:  # CREATE TABLE ... AS SELECT: no definitions to read
        return TableParts(frozenset(), ())
    checks: set[str] = set()
    collations: list[tuple[str, str]] = []
    for part in _definitions(tokens[start + 1 :]):
        checks.update(_checks(part))
        if part[0] not in _TABLE_CONSTRAINT and "collate" in part[:-1]:
            name = part[0].strip('"')
            collations.append((name, part[part.index("collate") + 1].strip('"')))
    return TableParts(frozenset(checks), tuple(collations))


def _definitions(tokens: list[str]) -> list[list[str]]:
    """The comma-separated column and constraint definitions, up to the closing parenthesis."""
    parts: list[list[str]] = [[]]
    depth = 0
    for token in tokens:
        if token == "(":
            depth += 1
        elif token == ")":
            if depth == 0:
                break
            depth -= 1
        elif token == "," and depth == 0:
            parts.append([])
            continue
        parts[-1].append(token)
    return [p for p in parts if p]


def _checks(part: list[str]) -> list[str]:
    """The parenthesised expression after each `check` of one definition."""
    found = []
    for index, token in enumerate(part):
        if token != "check" or index + 1 >= len(part) or part[index + 1] != "(":
            continue
        depth, end = 0, index + 1
        for end in range(index + 1, len(part)):
            depth += {"(": 1, ")": -1}.get(part[end], 0)
            if depth == 0:
                break
        found.append(" ".join(part[index + 1 : end + 1]))
    return found
