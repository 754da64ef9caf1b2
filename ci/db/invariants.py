"""Invariants files: named queries that must return no rows (postcheck, apply_empty, apply_sample).

```sql
-- invariant: vitals_have_mrn
SELECT id FROM vitals WHERE patient_mrn IS NULL;

-- invariant: one_setting_per_key
SELECT key FROM settings GROUP BY key HAVING COUNT(*) > 1;
```

Each `-- invariant: <name>` line starts an invariant; the one query after it (up to the next marker)
is what must return no rows. Parsing needs no database; running them is the caller's business.
"""

from __future__ import annotations

import re
from pathlib import Path

from ci.core.findings import Record
from ci.core.model import InputError, SqlFile
from ci.core.sqltext import LazyPattern, split_statements

MARKER = LazyPattern(r"^\s*--\s*invariant\s*:\s*(?P<name>.*?)\s*$", re.IGNORECASE)
NAME = LazyPattern(r"^[A-Za-z0-9_.\- ]+$")
QUERY_KEYWORDS = ("SELECT", "WITH", "VALUES", "PRAGMA")


class Invariant(Record):
    """One named query; `line` is the line of the query's first token in the file.

    A plain record (treat it as immutable), not a dataclass: `import dataclasses` costs ~13 ms
    of every database check's start-up, which the performance budgets (docs/design.md) measure as a
    whole process."""

    FIELDS = ("name", "sql", "line")
    __slots__ = FIELDS

    def __init__(self, name: str, sql: str, line: int) -> None:
        self.name = name
        self.sql = sql
        self.line = line


def parse_invariants(path: Path) -> list[Invariant]:
    """Read an invariants file; any problem is one InputError naming `path:line`."""
    text = SqlFile(path).text
    sections = _sections(text, path)
    if not sections:
        raise InputError(f"{path}: no invariants (start each query with '-- invariant: <name>')")
    invariants: list[Invariant] = []
    seen: dict[str, int] = {}
    for name, marker_line, body, body_line in sections:
        if name in seen:
            raise InputError(
                f"{path}:{marker_line}: invariant '{name}' is defined twice "
                f"(first on line {seen[name]})"
            )
        seen[name] = marker_line
        invariants.append(_invariant(path, name, marker_line, body, body_line))
    return invariants


def _sections(text: str, path: Path) -> list[tuple[str, int, str, int]]:
    """(name, marker line, body text, first line of body) for each marker, in file order."""
    sections: list[tuple[str, int, str, int]] = []
    lines = text.split("\n")
    current: tuple[str, int] | None = None
    body: list[str] = []
    body_start = 0
    for number, line in enumerate(lines, start=1):
        match = MARKER.match(line)
        if match is None:
            body.append(line)
            continue
        if current is not None:
            sections.append((*current, "\n".join(body), body_start))
        else:
            _no_sql_before_first_marker(path, "\n".join(body))
        name = match["name"]
        if not NAME.match(name):
            raise InputError(
                f"{path}:{number}: invariant needs a name of letters, digits, '_', '-', '.' "
                f"(got '{name}')"
            )
        current, body, body_start = (name, number), [], number + 1
    if current is not None:
        sections.append((*current, "\n".join(body), body_start))
    return sections


def _no_sql_before_first_marker(path: Path, preamble: str) -> None:
    statements = split_statements(preamble)
    if statements:
        raise InputError(
            f"{path}:{statements[0].line}: SQL before the first '-- invariant: <name>' line"
        )


def _invariant(path: Path, name: str, marker: int, body: str, body_line: int) -> Invariant:
    statements = split_statements(body)
    if not statements:
        raise InputError(f"{path}:{marker}: invariant '{name}' has no query")
    if len(statements) > 1:
        extra = statements[1]
        raise InputError(
            f"{path}:{body_line + extra.line - 1}: invariant '{name}' has more than one "
            "statement; give each query its own '-- invariant:' line"
        )
    statement = statements[0]
    line = body_line + statement.line - 1
    if statement.keyword not in QUERY_KEYWORDS:
        raise InputError(
            f"{path}:{line}: invariant '{name}' must be a query (SELECT/WITH/VALUES/PRAGMA), "
            f"not {statement.keyword}"
        )
    return Invariant(name=name, sql=statement.sql, line=line)
