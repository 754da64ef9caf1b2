"""CHECK constraints of a SQLite database evaluated row by row: SQLite does not even parse the
CHECK constraints of a database opened read-only, so its integrity_check skips them there. One
scan per table that has any (no more than integrity_check's own reading), writing nothing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import NamedTuple

from ci.core.sqltext import LazyPattern, strip_comments

# Tokens of a CREATE TABLE statement (comments already stripped): quoted strings and names
# whole, so a `check (` inside a default value or a quoted name is never taken for a constraint.
_TOKENS = LazyPattern(
    r"""'[^']*(?:''[^']*)*'? | "[^"]*(?:""[^"]*)*"? | `[^`]*(?:``[^`]*)*`? | \[[^\]]*\]?
    | \w+ | \S""",
    re.VERBOSE,
)


class CheckConstraint(NamedTuple):
    name: str | None  # CONSTRAINT name, if it has one
    expression: str


def check_constraint_failures(conn: sqlite3.Connection, limit: int) -> Iterator[str]:
    """`CHECK constraint failed in t: expr (rowid n)` for rows that break a CHECK constraint
    (at most `limit`); a constraint that cannot be evaluated here is said so, not skipped."""
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"
        " ESCAPE '\\' AND sql LIKE '%check%' AND sql NOT LIKE 'create virtual%' ORDER BY name"
    ).fetchall()
    for table, sql in tables:
        constraints = check_constraints(sql)
        if not constraints:
            continue
        for failure in _table_failures(conn, table, constraints, limit):
            yield failure
            limit -= 1
            if limit == 0:
                return


def check_constraints(create_table: str) -> list[CheckConstraint]:
    """The CHECK constraints of a CREATE TABLE statement, column and table ones, as written."""
    sql = strip_comments(create_table)
    tokens = list(_TOKENS.finditer(sql))
    found = []
    for i, token in enumerate(tokens[:-1]):
        if token[0].upper() != "CHECK" or tokens[i + 1][0] != "(":
            continue
        close = _matching_paren(tokens, i + 1)
        if close is None:
            continue
        expression = " ".join(sql[tokens[i + 1].end() : tokens[close].start()].split())
        named = i >= 2 and tokens[i - 2][0].upper() == "CONSTRAINT"
        found.append(CheckConstraint(tokens[i - 1][0] if named else None, expression))
    return found


def _matching_paren(tokens: list[re.Match[str]], open_at: int) -> int | None:
    depth = 0
    for j in range(open_at, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[j][0], 0)
        if depth == 0:
            return j
    return None


def _table_failures(
    conn: sqlite3.Connection, table: str, constraints: list[CheckConstraint], limit: int
) -> Iterator[str]:
    """One scan of the table: each row that makes some CHECK false (NULL passes, as in SQLite)."""
    quoted = '"' + table.replace('"', '""') + '"'
    tests = ", ".join(f"coalesce(NOT ({c.expression}), 0)" for c in constraints)
    where = " OR ".join(f"NOT ({c.expression})" for c in constraints)
    rows: list[tuple[object, ...]] = []
    for key in ("rowid", "NULL"):  # a WITHOUT ROWID table has no rowid to name
        try:
            sql = f"SELECT {key}, {tests} FROM main.{quoted} WHERE {where} LIMIT {limit}"
            rows = conn.execute(sql).fetchall()
            break
        except sqlite3.Error as error:
            if key == "rowid" and "rowid" in str(error):
                continue
            yield f"CHECK constraints of {table} cannot be evaluated here: {error}"
            return
    for rowid, *failed in rows:
        at = f" (rowid {rowid})" if rowid is not None else ""
        for constraint, fails in zip(constraints, failed, strict=True):
            if fails:
                name = f" {constraint.name}" if constraint.name else ""
                yield f"CHECK constraint{name} failed in {table}: {constraint.expression}{at}"
