"""The parts of a normalised CREATE TABLE / CREATE INDEX statement that no PRAGMA reports, so that a
difference can be named: a table's STRICT / WITHOUT ROWID, AUTOINCREMENT, COLLATE and CHECK; an
index's columns as written (DESC, COLLATE, expressions) and its WHERE.

Input is what ci.db.fingerprint_schema.normalise_sql returns: tokens joined by one space, lower
case outside string literals. Anything this does not understand gives None (the caller then says
"definition differs"): it names differences, it never decides whether there is one.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\S+")
_TABLE_CONSTRAINTS = frozenset({"constraint", "primary", "unique", "check", "foreign"})
_UPPER = frozenset({"desc", "asc", "collate", "and", "or", "not", "null", "is", "in", "like"})
_UPPER |= frozenset({"between", "glob", "regexp", "match", "escape", "case", "when", "then"})
_UPPER |= frozenset({"else", "end", "cast", "as"})


class TableParts(NamedTuple):
    options: frozenset[str]  # "strict", "without rowid"
    autoincrement: bool
    collations: dict[str, str]  # column (lower case) -> collation as written
    checks: frozenset[tuple[str | None, str]]  # (column, or None for the table; CHECK text)


class IndexParts(NamedTuple):
    columns: tuple[str, ...]  # as written: `a DESC`, `lower(a)`, `b COLLATE NOCASE`
    where: str | None


def tokens(sql: str) -> list[str]:
    return _TOKEN.findall(sql)


def pretty(words: list[str]) -> str:
    """`check ( a > 0 )` -> `CHECK (a > 0)`: the tokens as a reviewer would write them."""
    text = " ".join(w.upper() if w in _UPPER or w == "check" else w for w in words)
    text = re.sub(r"\( ", "(", text)
    text = re.sub(r" \)", ")", text)
    text = re.sub(r" ,", ",", text)
    text = re.sub(r"([<>=!|]) (?=[<>=!|])", r"\1", text)  # `< >` -> `<>`: one operator, two tokens
    return re.sub(r"(\w) \(", r"\1(", text).replace("CHECK(", "CHECK (")


def _closing(words: list[str], start: int) -> int:
    """The index of the `)` that closes the `(` at `start`."""
    depth = 0
    for i in range(start, len(words)):
        depth += words[i] == "("
        depth -= words[i] == ")"
        if depth == 0:
            return i
    raise ValueError("unbalanced parentheses")


def _split(words: list[str]) -> list[list[str]]:
    """Split at the commas outside parentheses."""
    parts: list[list[str]] = [[]]
    depth = 0
    for word in words:
        depth += (word == "(") - (word == ")")
        if word == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(word)
    return [p for p in parts if p]


def table_parts(sql: str) -> TableParts | None:
    words = tokens(sql)
    if "table" not in words[:4]:
        return None
    try:
        start = words.index("(")
        end = _closing(words, start)
    except ValueError:
        return None  # CREATE TABLE ... AS SELECT: no column list to read
    if "as" in words[:start]:
        return None
    tail = " ".join(words[end + 1 :])
    options = frozenset(o.strip() for o in tail.split(",") if o.strip())
    collations: dict[str, str] = {}
    checks: set[tuple[str | None, str]] = set()
    for part in _split(words[start + 1 : end]):
        column = None if part[0] in _TABLE_CONSTRAINTS else part[0].strip('"').lower()
        for i, word in enumerate(part):
            if word == "collate" and column is not None and i + 1 < len(part):
                collations[column] = part[i + 1].upper()
            elif word == "check" and i + 1 < len(part) and part[i + 1] == "(":
                checks.add((column, pretty(part[i : _closing(part, i + 1) + 1])))
    return TableParts(options, "autoincrement" in words, collations, frozenset(checks))


def index_parts(sql: str) -> IndexParts | None:
    words = tokens(sql)
    try:
        start = words.index("(", words.index("on"))
        end = _closing(words, start)
    except ValueError:
        return None
    columns = tuple(pretty(p) for p in _split(words[start + 1 : end]))
    rest = words[end + 1 :]
    where = pretty(rest[1:]) if rest[:1] == ["where"] else None
    return IndexParts(columns, where)
