"""Which tables a migration dropped (or renamed away) and whether it put their rows back: the
steps ci.db.schema_watch recorded, replayed in order.

A table "carries" the rows of the tables it was filled from. Before the migration each table
carries its own rows; CREATE and DROP leave it carrying none; `ALTER TABLE a RENAME TO b` moves
what `a` carries to `b`; an INSERT (or CREATE TABLE ... AS) adds what the tables it reads carry.
The rows of a dropped `t` are back when the `t` after the migration carries them: an empty copy
renamed over it, or a literal `INSERT ... VALUES`, puts nothing back.

What a statement reads is SQLite's word (the authorizer's READ calls), except for the one
statement it reads without asking: `INSERT INTO a SELECT * FROM b` (the transfer optimisation),
whose table after FROM is read from its text. A virtual table (FTS5, R*Tree) is derived data,
refilled from elsewhere (`INSERT INTO docs(docs) VALUES('rebuild')`): any INSERT into it counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ci.core.model import SqlFile
from ci.core.sqltext import LazyPattern, Statement
from ci.db.schema_shapes import fold

_STRING = LazyPattern(r"'(?:[^']|'')*'")
_FROM = LazyPattern(
    r"\bFROM\s+(?:(main|temp)\s*\.\s*)?(\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|[\w$]+)",
    re.IGNORECASE,
)


def rows_key(name: str, db: str) -> str:
    """A table's name here: folded, a TEMP table's as "temp.name"."""
    return fold(name) if db == "main" else f"{db}.{fold(name)}"


class _Rows:
    def __init__(self) -> None:
        self.carries: dict[str, set[str]] = {}
        self.virtual: set[str] = set()
        self.gone: set[str] = set()

    def of(self, name: str) -> set[str]:
        return self.carries.get(name, {name})

    def emptied(self, name: str) -> None:
        self.carries[name] = set()
        self.virtual.discard(name)


def replaced(steps: Iterable[tuple[Statement, set[tuple[str, str]]]]) -> dict[str, bool]:
    """The tables dropped or renamed away, each with whether the table of that name after the
    migration carries their rows."""
    rows = _Rows()
    for statement, names in steps:
        _replay(rows, statement, names)
    return {name: name in rows.of(name) for name in rows.gone}


def _replay(rows: _Rows, statement: Statement, names: set[tuple[str, str]]) -> None:
    def named(kind: str) -> list[str]:
        return [n for k, n in names if k == kind]

    for name in named("dropped"):
        rows.emptied(name)
        rows.gone.add(name)
    for old in named("renamed"):
        for new in named("renamed to"):
            rows.carries[new] = rows.of(old)
            if old in rows.virtual:
                rows.virtual.add(new)
        rows.emptied(old)
        rows.gone.add(old)
    for name in named("created"):
        rows.emptied(name)
    rows.virtual |= set(named("virtual"))
    inserted = named("inserted")
    sources = set(named("read")) or (_read_by_text(statement) if inserted else set())
    origin = {o for source in sources for o in rows.of(source)}
    targets = set(inserted) | (set(named("created")) if sources else set())
    for name in targets - sources:
        rows.carries[name] = rows.of(name) | origin
        if name in rows.virtual and name in inserted:
            rows.carries[name].add(name)


def _read_by_text(statement: Statement) -> set[str]:
    """The tables after FROM in an INSERT SQLite read without asking (INSERT ... SELECT *)."""
    found = set()
    for schema, name in _FROM.findall(_STRING.sub("''", statement.code)):
        if name[0] in '"`[':
            name = name[1:-1].replace('""', '"')
        found.add(("temp." if schema.lower() == "temp" else "") + fold(name))
    return found


def copied_in(file: SqlFile) -> Callable[[str, str], bool]:
    """Whether a statement of `file` copies rows from table `old` into `new` (INSERT INTO new
    ... FROM old, or CREATE TABLE new AS ... FROM old): a drop and a creation that read as a
    rename only then (a migration without RENAME)."""

    def copied(old: str, new: str) -> bool:
        into = re.compile(
            rf"\b(?:INTO|TABLE)\s+{_name(new)}(?![\w$]).*\bFROM\s+{_name(old)}(?![\w$])",
            re.IGNORECASE | re.DOTALL,
        )
        return any(into.search(fold(s.code)) for s in file.statements)

    return copied


def _name(name: str) -> str:
    """A pattern for a folded table name, bare or quoted ("x", `x`, [x])."""
    return rf"""["`\[]?{re.escape(name)}["`\]]?"""
