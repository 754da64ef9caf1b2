"""The older `schema_version` table as its CREATE TABLE text says it, and the SQL that rebuilds
it in the runner's shape (ci.db.upgrade runs that SQL).

The text is read piece by piece (quoted strings and names, comments, single characters), so that
every column keeps its own definition word for word; only the uniqueness of `version` alone is
taken out, and the runner's columns the old table lacks are added after the old ones.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping

from ci.db.tables import ALIASES, COLUMNS, MAIN_TABLE, TABLE, UpgradeRefused, quoted

NEW = f"{TABLE}_new"
# the runner's own definition of each of its columns, for those the old table lacks
DEFINITIONS = {
    "version": "version INTEGER NOT NULL",
    "migration_type": "migration_type TEXT NOT NULL DEFAULT 'schema'",
    "description": "description TEXT NOT NULL DEFAULT ''",
    "file_hash": "file_hash TEXT",
    "applied_at": "applied_at TEXT",
    "execution_time_ms": "execution_time_ms INTEGER",
    "rows_affected": "rows_affected INTEGER",
    "applied_by": "applied_by TEXT",
    "code_hash": "code_hash TEXT",
}
# SQL text, piece by piece: quoted strings and names, comments, and single characters between
_PIECE = re.compile(
    r"""'[^']*(?:''[^']*)*'? | "[^"]*(?:""[^"]*)*"? | `[^`]*(?:``[^`]*)*`? | \[[^\]]*\]?
    | --[^\n]* | /\*.*?(?:\*/|\Z) | [^'"`\[\-/(),]+ | .""",
    re.VERBOSE | re.DOTALL,
)
NAME = r"""(?:"[^"]*(?:""[^"]*)*"|`[^`]*`|\[[^\]]*\]|\w+)"""
_CONSTRAINT_NAME = rf"(?:CONSTRAINT\s+{NAME}\s+)?"
# `version`'s own PRIMARY KEY or UNIQUE clause inside its column definition
_VERSION_KEY = re.compile(
    rf"\s*{_CONSTRAINT_NAME}(?:PRIMARY\s+KEY(?:\s+(?:ASC|DESC))?|UNIQUE)"
    r"(?:\s+ON\s+CONFLICT\s+\w+)?(?:\s+AUTOINCREMENT)?",
    re.IGNORECASE,
)
# a table constraint that makes `version` alone unique
VERSION_KEY_CONSTRAINT = re.compile(
    rf"^{_CONSTRAINT_NAME}(?:PRIMARY\s+KEY|UNIQUE)\s*\(\s*(?:\"version\"|`version`|\[version\]|"
    r"version)(?:\s+COLLATE\s+\w+)?(?:\s+(?:ASC|DESC))?\s*\)(?:\s+ON\s+CONFLICT\s+\w+)?$",
    re.IGNORECASE,
)
TABLE_CONSTRAINT = re.compile(r"^(?:CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b", re.IGNORECASE)


class OldTable:
    """The old table as its CREATE TABLE text and PRAGMA table_xinfo describe it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone()
        self.sql = str(row[0])
        # (name, declared type, notnull, default, pk, hidden) per column, in declared order
        self.info = [
            (str(r[1]), r[2], r[3], r[4], r[5], r[6])
            for r in conn.execute(f"PRAGMA main.table_xinfo({TABLE})")
        ]
        self.names = [c[0] for c in self.info]
        self.lower = {name.lower(): name for name in self.names}
        parts, self.options = split_definition(self.sql)
        self.column_parts = [p for p in parts if not TABLE_CONSTRAINT.match(code_of(p))]
        self.constraint_parts = [p for p in parts if TABLE_CONSTRAINT.match(code_of(p))]
        if len(self.column_parts) != len(self.info):
            raise UpgradeRefused(f"cannot read the column definitions of {TABLE} from its SQL")

    def copied_columns(self) -> list[str]:
        """The columns whose values are copied (generated columns compute their own)."""
        return [c[0] for c in self.info if c[5] not in (2, 3)]

    def unfillable_columns(self) -> list[str]:
        """Columns of the old table's own that a new row must fill but the runner cannot."""
        return [
            name
            for name, kind, notnull, default, pk, hidden in self.info
            if name.lower() not in COLUMNS
            and notnull
            and default is None
            and hidden not in (2, 3)
            and not (pk and str(kind).upper() == "INTEGER")
        ]

    def source(self, column: str) -> str | None:
        """The old column that holds one of the runner's columns (its own name or an alias)."""
        aliases = ALIASES.get(column, (column,))
        return next((self.lower[a] for a in aliases if a in self.lower), None)


def new_table_sql(old: OldTable) -> str:
    parts: list[str] = []
    for part, column in zip(old.column_parts, old.info, strict=True):
        parts.append(
            _version_definition(part, column[1]) if column[0].lower() == "version" else part
        )
    parts += [DEFINITIONS[c] for c in COLUMNS if c not in old.lower]
    parts += [p for p in old.constraint_parts if not VERSION_KEY_CONSTRAINT.match(code_of(p))]
    body = ",\n    ".join(closed(p) for p in parts)
    return f"CREATE TABLE main.{NEW} (\n    {body}\n){old.options}"


def _version_definition(part: str, declared: object) -> str:
    """The old definition of `version` without its key; INTEGER if it was declared otherwise
    (the runner finds rows by number: a TEXT '0001' would never equal 1)."""
    if "INT" not in str(declared).upper():
        return DEFINITIONS["version"]
    return _without_version_key(part)


def _without_version_key(part: str) -> str:
    """`version INTEGER PRIMARY KEY` -> `version INTEGER NOT NULL` (a rowid alias was never
    NULL; the identity index takes over its uniqueness)."""
    definition = _VERSION_KEY.sub("", part.strip())
    if not re.search(r"\bNOT\s+NULL\b", code_of(definition), re.IGNORECASE):
        definition = closed(definition) + " NOT NULL"
    return definition


def closed(part: str) -> str:
    """The part stripped, ending with a line break if it ends in a `--` comment: whatever is
    written after it (the next comma, an added NOT NULL) would otherwise be commented out."""
    part = part.strip()
    pieces = _PIECE.findall(part)
    return part + "\n" if pieces and pieces[-1].startswith("--") else part


def copy_sql(old: OldTable, kinds: Mapping[int, str]) -> str:
    targets = [quoted(name) for name in old.copied_columns()]
    sources = list(targets)
    if "migration_type" in old.lower:  # a row that does not say gets its file's kind
        at = old.copied_columns().index(old.lower["migration_type"])
        sources[at] = f"COALESCE({sources[at]}, {_kind_by_file(kinds)})"
    for column in COLUMNS:
        if column in old.lower:
            continue
        source = old.source(column)
        targets.append(column)
        if column == "migration_type":
            fallback = _kind_by_file(kinds)
            sources.append(f"COALESCE({quoted(source)}, {fallback})" if source else fallback)
        elif column == "description":
            sources.append(f"COALESCE({quoted(source)}, '')" if source else "''")
        else:
            sources.append(quoted(source) if source else "NULL")
    select = f"SELECT {', '.join(sources)} FROM {MAIN_TABLE}"
    return f"INSERT INTO main.{NEW} ({', '.join(targets)}) {select}"


def _kind_by_file(kinds: Mapping[int, str]) -> str:
    """SQL giving a row the kind of its file ('schema' or 'data'), else 'schema'."""
    cases = " ".join(
        f"WHEN {int(v)} THEN '{k}'" for v, k in kinds.items() if k in ("schema", "data")
    )
    return f"CASE version {cases} ELSE 'schema' END" if cases else "'schema'"


def split_definition(sql: str) -> tuple[list[str], str]:
    """CREATE TABLE text -> (its column definitions and table constraints, its table options)."""
    depth = 0
    parts: list[str] = []
    current: list[str] = []
    options_at = len(sql)
    position = 0
    for match in _PIECE.finditer(sql):
        piece = match.group()
        position = match.end()
        if piece == "(":
            depth += 1
            if depth == 1:
                continue
        elif piece == ")":
            depth -= 1
            if depth == 0:
                parts.append("".join(current))
                options_at = position
                break
        if depth == 1 and piece == ",":
            parts.append("".join(current))
            current = []
        elif depth >= 1:
            current.append(piece)
    return [p for p in parts if code_of(p)], sql[options_at:]


def code_of(part: str) -> str:
    """The part without comments and surrounding space (to recognise what it is)."""
    pieces = (p for p in _PIECE.findall(part) if not p.startswith(("--", "/*")))
    return "".join(pieces).strip()
