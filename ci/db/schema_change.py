"""One schema change (`Change`), the codes of the risky ones (MG601-MG609), and how two SQL
texts are compared: what ci.db.schema_changes and ci.db.schema_table_diff share.
"""

from __future__ import annotations

from typing import NamedTuple

from ci.core.sqltext import strip_comments
from ci.db.schema_shapes import fold

TABLE_DROPPED = "MG601"
COLUMN_DROPPED = "MG602"
RENAMED = "MG603"
COLUMN_CHANGED = "MG604"
NOT_NULL_ADDED = "MG605"
UNIQUE_ADDED = "MG606"
CONSTRAINT_ADDED = "MG607"
OBJECT_DROPPED = "MG608"
DANGLING = "MG609"

# The codes whose findings fail the check: data is gone, or the app's writes fail. The others
# are warnings: a risk a reviewer weighs (duplicates in production, an app version reading
# the old name).
ERRORS = frozenset({TABLE_DROPPED, COLUMN_DROPPED, DANGLING})

# The risk only: each code's hint says what to do (expand/contract), so the finding does not
# say it twice.
DEPLOYED = "the app version still deployed reads it (expand/contract)"


class Change(NamedTuple):
    """One difference. `group` is the table or view it belongs to (lower case), by which the
    statement responsible is found; `line`/`offset` are that statement's (None: not known)."""

    kind: str  # "column dropped", "index created", ...
    target: str  # "column patients.notes", "table vitals", "index idx_vitals_time"
    detail: str  # what changed, in words
    group: str
    code: str | None = None  # None: not risky (a changelog entry only)
    part: str | None = None  # "index name" / "trigger name": found by the statement naming it
    line: int | None = None
    offset: int | None = None

    @property
    def risky(self) -> bool:
        return self.code is not None

    @property
    def severity(self) -> str:
        if self.code is None:
            return "info"
        return "error" if self.code in ERRORS else "warning"

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "object": self.target,
            "detail": self.detail,
            "severity": self.severity,
            "risky": self.risky,
            "code": self.code,
            "line": self.line,
        }


def part(kind: str, name: str) -> str:
    """How an index or trigger is named to find the statement that made it."""
    return f"{kind} {fold(name)}"


def normalised(sql: str) -> str:
    # imported here: the fingerprint modules pull in dataclasses and hashlib, and most runs
    # never compare two different texts
    from ci.db.fingerprint_schema import normalise_sql

    return normalise_sql(sql)


def same_sql(a: str, b: str) -> bool:
    """Equal once comments, whitespace, case and unneeded quotes are left out (a RENAME
    rewrites the SQL of indexes and triggers with quotes)."""
    return a == b or normalised(a) == normalised(b)


def one_line(sql: str) -> str:
    """SQL as one line of a changelog: comments left out, whitespace folded."""
    return (
        " ".join(strip_comments(sql).split())
        if "--" in sql or "/*" in sql
        else " ".join(sql.split())
    )
