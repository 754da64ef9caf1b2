"""The schema changes of each migration as findings (MG601-MG609) and as a changelog.

ci.db.schema_watch sees what each migration changes while apply_empty runs it, and which statement
did it; ci.db.schema_changes classifies the changes. Here the risky ones become findings on the
migration's case, at the line of the statement responsible, unless that statement waives the code
with `-- noqa: MG6xx <reason>` (lint's noqa, ci.checks.lint.noqa). A statement that waives MG503
(lint's destructive DDL) for the drop it makes has said so already: that waives MG601 and MG602
too. With `--explain` every change, risky or not, is kept on the case for the reports.

The failing, passing and silenced cases of each code are data in ci.checks.schema_cases.
"""

from __future__ import annotations

import sqlite3

from ci.core.findings import Case, Finding
from ci.core.model import Migration
from ci.db.schema_changes import COLUMN_DROPPED, TABLE_DROPPED, Change
from ci.db.schema_watch import SchemaWatch, Seen, Watching

# lint's DROP TABLE / DROP COLUMN rule: a reason given for it covers the drop analysed here
DESTRUCTIVE_DDL = "MG503"
_COVERED_BY_DESTRUCTIVE = frozenset({TABLE_DROPPED, COLUMN_DROPPED})


class Analysis:
    """Schema-change analysis over one check's run: watch each migration, then judge its case.

    ```
    analysis = Analysis(NAME, conn, explain=options.explain)
    with analysis.watching(migration):
        case = apply_case(...)
    analysis.judge(case, migration)
    ```
    """

    def __init__(self, check: str, conn: sqlite3.Connection, *, explain: bool = False) -> None:
        self.check = check
        self.explain = explain
        self.watch = SchemaWatch(conn)
        self._seen: Seen | None = None

    def watching(self, migration: Migration) -> Watching:
        """The block applies `migration` with the runner (a plain context manager: once per
        migration)."""
        # without --explain only the risky changes are reported: a migration that can only
        # add to the schema is not followed (ci.db.schema_additive)
        watching = self.watch.watching(migration.file, by_runner=True, risky_only=not self.explain)
        self._seen = watching.seen
        return watching

    def judge(self, case: Case, migration: Migration, *, findings: bool = True) -> None:
        """The changes of the migration just watched: findings on `case` (unless `findings` is
        False: a migration the branch does not bring) and the changelog."""
        seen, self._seen = self._seen, None
        if seen is None or case.outcome == "failed":
            return
        # always: it moves the watch's "before" on; without --explain only the risky ones
        changes = self.watch.changes(seen, risky_only=not self.explain)
        if not changes:
            return
        if findings:
            case.findings += risky_findings(self.check, migration, changes)
        if self.explain:
            case.changes = tuple(changes)


def risky_findings(check: str, migration: Migration, changes: list[Change]) -> list[Finding]:
    """The risky changes not waived by a noqa on their statement."""
    risky = [c for c in changes if c.code is not None]
    if not risky:
        return []
    # imported here: the lint package costs ~20 ms to import, and most runs have no risky change
    from ci.checks.lint.noqa import silencing_scopes

    scopes = silencing_scopes(migration.file.text)
    found = []
    for change in risky:
        code = change.code
        assert code is not None
        waived = scopes.get(change.offset, set()) if change.offset is not None else set()
        if code in waived or (code in _COVERED_BY_DESTRUCTIVE and DESTRUCTIVE_DDL in waived):
            continue
        found.append(finding(check, migration, change, code))
    return found


def finding(check: str, migration: Migration, change: Change, code: str) -> Finding:
    from ci.core.codes import lookup  # the registry is only needed for a finding

    entry = lookup(code)
    hint = entry.hint if entry is not None else ""
    hint = f"{hint}; or, if it is intended, -- noqa: {code} <reason> on the statement"
    message = f"{change.target}: {change.kind}: {change.detail}"
    return Finding(
        check, code, migration.file.location, change.line, message, hint, severity=change.severity
    )
