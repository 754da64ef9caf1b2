"""Columns whose values a migration generates non-deterministically: two runs of the same SQL give
two different values (the time now, a random number), so a round trip must not compare them.

Recognised from the text, never by running anything: a column whose DEFAULT calls a time or random
function (`CURRENT_TIMESTAMP`, `datetime('now')`, `random()`, `randomblob(16)`, `julianday()`),
and a column that an INSERT, REPLACE or UPDATE (an upsert's DO UPDATE included) of the given files
sets to the result of one (`hex(randomblob(16))`). Read from the SQL's tokens, not its text: the
text 'Random Patient' calls nothing, and a value a condition decides (`CASE WHEN random() ...`)
is not the call's. An INSERT whose values cannot be matched to its columns counts for every column
it inserts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from ci.core.model import InputError, SqlFile
from ci.db.fingerprint import TablePrint

# SQL tokens: comments and blanks (skipped), quoted texts and names, words, numbers, operators
_TOKEN = re.compile(
    r"\s+|--[^\n]*|/\*.*?(?:\*/|$)"
    r"|(?P<text>'(?:[^']|'')*'?)|(?P<name>\"(?:[^\"]|\"\")*\"?|`[^`]*`?|\[[^\]]*\]?)"
    r"|(?P<word>[A-Za-z_][\w$]*)|(?P<other>\d[\w.]*|<=|>=|==|!=|<>|\|\||.)",
    re.DOTALL,
)
_KEYWORD_CALLS = frozenset({"current_timestamp", "current_date", "current_time"})
_RANDOM = frozenset({"random", "randomblob"})
_CLOCK = frozenset({"date", "time", "datetime", "julianday", "unixepoch", "strftime"})
# a value that goes through one of these is decided by a condition, not produced by the call
_CONDITIONS = frozenset(
    {"case", "when", "iif", "nullif", "is", "not", "and", "or", "like", "glob", "in", "between"}
    | {"exists", "match", "regexp", "=", "==", "<", ">", "<=", ">=", "!=", "<>"}
)


def _tokens(code: str) -> list[tuple[str, str]]:
    """(kind, text) of each token: kind text, name, word (lower case) or other."""
    found = []
    for match in _TOKEN.finditer(code):
        kind = match.lastgroup
        if kind is not None:
            value = match.group(kind)
            found.append((kind, value.lower() if kind == "word" else value))
    return found


def volatile_call(code: str) -> str | None:
    """The first time or random call of `code` (`random()`, `datetime('now')`,
    `CURRENT_TIMESTAMP`), read from its tokens: a text 'Random Patient' or a column named
    `random` is none."""
    tokens = _tokens(code)
    for at, (kind, word) in enumerate(tokens):
        if kind != "word":
            continue
        called = at + 1 < len(tokens) and tokens[at + 1] == ("other", "(")
        if word in _KEYWORD_CALLS and not called:
            return word.upper()
        if called and word in _RANDOM:
            return f"{word}()"
        if called and word in _CLOCK and _reads_clock(tokens, at + 1):
            return f"{word}('now')"
    return None


def _reads_clock(tokens: list[tuple[str, str]], opening: int) -> bool:
    """Whether the call whose '(' is at `opening` has no argument or a 'now' argument."""
    depth, arguments = 0, []
    for kind, value in tokens[opening:]:
        depth += (value == "(") - (value == ")") if kind == "other" else 0
        if depth == 0:
            break
        if depth == 1 and value != "(":
            arguments.append((kind, value))
    return not arguments or ("text", "'now'") in [(k, v.lower()) for k, v in arguments]


def produces_volatile(expression: str) -> bool:
    """Whether the value of `expression` is the direct result of a time or random call
    (`hex(randomblob(16))`, `coalesce(at, datetime('now'))`), not one a condition decides
    (`CASE WHEN random() IS NOT NULL THEN NULL END` is always NULL)."""
    if volatile_call(expression) is None:
        return False
    return not any(value in _CONDITIONS for _, value in _tokens(expression))


_NAME = r"(?:\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|[\w$]+)"
_TARGET = re.compile(
    r"^(?:WITH\b.*?\)\s*)?(?P<verb>UPDATE(?:\s+OR\s+\w+)?|(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO)"
    rf"\s+(?:main\s*\.\s*)?(?P<table>{_NAME})",
    re.IGNORECASE | re.DOTALL,
)
_ENDS_SET = re.compile(r"\b(?:WHERE|FROM|RETURNING|ORDER\s+BY|LIMIT)\b", re.IGNORECASE)


class Volatile(NamedTuple):
    """Why a column's values differ from run to run, and the statement that generates them
    (None for a default: which INSERT used it is not known)."""

    why: str
    path: Path | None = None
    line: int | None = None


def volatile_columns(table: TablePrint, files: Iterable[SqlFile]) -> dict[str, str]:
    """{lower-case column: why its values differ from run to run} for one table."""
    return {name: found.why for name, found in volatile_sources(table, files).items()}


def volatile_sources(table: TablePrint, files: Iterable[SqlFile]) -> dict[str, Volatile]:
    """{lower-case column: why, and where} for one table."""
    found: dict[str, Volatile] = {}
    for column in table.columns:
        if column.default is not None and produces_volatile(column.default):
            why = f"its default {column.default} differs from run to run"
            found[column.name.lower()] = Volatile(why)
    columns = [c.name for c in table.columns if c.hidden != 1]
    for file in files:
        try:
            statements = file.statements
        except InputError:
            continue
        for statement in statements:
            call = volatile_call(statement.code)
            if call is None:
                continue
            why = f"{file.path.name}:{statement.line} sets it with {call}"
            for name in set_by(statement.code, table.name, columns):
                found.setdefault(name.lower(), Volatile(why, file.path, statement.line))
    return found


def unquote(name: str) -> str:
    if name[:1] in '"`[':
        return name[1:-1].replace('""', '"')
    return name


def set_by(code: str, table: str, columns: Sequence[str]) -> list[str]:
    """The columns of `table` that the statement `code` sets with a volatile expression."""
    target = _TARGET.match(code)
    if target is None or unquote(target["table"]).lower() != table.lower():
        return []
    rest = code[target.end() :]
    if target["verb"].upper().startswith("UPDATE"):
        return _assigned(_set_clause(rest))
    upsert = re.search(r"\bON\s+CONFLICT\b", rest, re.IGNORECASE)
    inserted = rest if upsert is None else rest[: upsert.start()]
    named = _inserted(inserted, columns) if volatile_call(inserted) else []
    if upsert is not None:
        named += _assigned(_set_clause(rest[upsert.end() :]))
    return named


def _set_clause(rest: str) -> str:
    """The assignments of `UPDATE t SET ...`, up to the top-level WHERE/FROM/... ."""
    match = re.search(r"\bSET\b", rest, re.IGNORECASE)
    if match is None:
        return ""
    text = rest[match.end() :]
    for at in _top_level(text):
        if _ENDS_SET.match(text, at) and (at == 0 or not text[at - 1].isalnum()):
            return text[:at]
    return text


def _assigned(clause: str) -> list[str]:
    """Columns on the left of `col = expr` (or `(a, b) = (...)`) whose expression is volatile."""
    names: list[str] = []
    for item in split_top(clause):
        left, equals, right = item.partition("=")
        if equals and produces_volatile(right):
            names += [unquote(n.strip()) for n in left.strip().strip("()").split(",") if n.strip()]
    return names


def _inserted(rest: str, columns: Sequence[str]) -> list[str]:
    """Columns an INSERT sets with a volatile value: matched by position when it can be, else
    every column it inserts."""
    head = re.match(rf"\s*(?:AS\s+{_NAME}\s*)?(?:\((?P<columns>[^()]*)\))?\s*", rest, re.I)
    listed = head["columns"] if head else None
    names = [unquote(c.strip()) for c in listed.split(",")] if listed else list(columns)
    body = rest[head.end() :] if head else rest
    rows: list[list[str]] = []
    values = re.match(r"VALUES\b", body, re.IGNORECASE)
    select = re.match(r"SELECT\s+(?:DISTINCT\s+|ALL\s+)?", body, re.IGNORECASE)
    if values is not None:
        rows = [split_top(_first_group(t)) for t in split_top(body[values.end() :])]
    elif select is not None:
        rows = [split_top(_before_from(body[select.end() :]))]
    volatile = {at for row in rows for at, item in enumerate(row) if produces_volatile(item)}
    if rows and all(len(row) == len(names) for row in rows):
        return [names[at] for at in sorted(volatile)]
    # not matched column by column: every column it inserts, when a value may be volatile
    return names if volatile or not rows else []


def _first_group(text: str) -> str:
    """What the first bracket pair of `text` holds: `(1, f(2)) x` -> `1, f(2)`."""
    start, depth = text.find("("), 0
    for at in range(max(start, 0), len(text)):
        depth += (text[at] == "(") - (text[at] == ")")
        if depth == 0 and start >= 0:
            return text[start + 1 : at]
    return ""


def _before_from(text: str) -> str:
    depth = 0
    for at, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if (
            depth == 0
            and re.match(r"\bFROM\b", text[at:], re.IGNORECASE)
            and not (at and (text[at - 1].isalnum() or text[at - 1] == "_"))
        ):
            return text[:at]
    return text


def split_top(text: str) -> list[str]:
    """`a, f(b, c), 'x,y'` -> ['a', 'f(b, c)', "'x,y'"]: commas outside brackets and quotes."""
    items, start = [], 0
    for at in _top_level(text):
        if text[at] == ",":
            items.append(text[start:at].strip())
            start = at + 1
    tail = text[start:].strip()
    return [*items, tail] if tail or items else []


def _top_level(text: str) -> Iterator[int]:
    """The positions of `text` outside brackets and quotes (quote and bracket characters
    themselves excluded): where a clause can end or a list be split."""
    depth, quote = 0, ""
    for at, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0:
            yield at
