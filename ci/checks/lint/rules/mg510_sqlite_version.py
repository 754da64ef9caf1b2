"""MG510 needs-newer-sqlite: `RENAME COLUMN` or `DROP COLUMN` older SQLite cannot run.

`ALTER TABLE ... RENAME COLUMN` exists since SQLite 3.25.0 and `ALTER TABLE ... DROP COLUMN` since
3.35.0. The SQLite that runs a migration is the one linked into the application's Python or
system, not the one on the developer's machine. Set the oldest SQLite the project runs on with
`--min-sqlite-version` (default 3.35.0: Debian 12 ships 3.40.1 and Ubuntu 22.04 ships 3.37.2;
set 3.34.1 for RHEL 9 or Debian 11, 3.31.1 for Ubuntu 20.04).

Anti-pattern (with `--min-sqlite-version 3.31.1`)::

    ALTER TABLE patients DROP COLUMN legacy_id;

Best practice: SQLite's table rebuild procedure (create the new table, copy, drop, rename), which
works on every version; or raise `--min-sqlite-version` once every deployment is new enough.

Silence: `-- noqa: MG510` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import (
    NAME,
    QUALIFIED,
    FileContext,
    Hit,
    LintCase,
    Rule,
    version_text,
)

CODE = "MG510"

FEATURES = (
    (
        "RENAME COLUMN",
        (3, 25, 0),
        rf"^ALTER\s+TABLE\s+{QUALIFIED}\s+RENAME\s+(?!TO\b)(?:COLUMN\s+)?{NAME}\s+TO\b",
    ),
    ("DROP COLUMN", (3, 35, 0), rf"^ALTER\s+TABLE\s+{QUALIFIED}\s+DROP\s+(?:COLUMN\s+)?{NAME}"),
)


def check(ctx: FileContext) -> Iterator[Hit]:
    for sql in ctx.sql:
        for feature, since, pattern in FEATURES:
            if ctx.min_sqlite < since and sql.match(pattern):
                yield Hit(
                    sql,
                    f"{feature} needs SQLite {version_text(since)}; the minimum configured is "
                    f"{version_text(ctx.min_sqlite)}",
                    "rebuild the table instead (create, copy, drop, rename), "
                    "or raise --min-sqlite-version",
                )


CASES = (
    LintCase(
        "drop column on 3.34",
        "rollback",
        "ALTER TABLE t DROP COLUMN adt;\n",
        "fail",
        min_sqlite=(3, 34, 1),
    ),
    LintCase(
        "rename column on 3.24",
        "schema",
        "ALTER TABLE t RENAME mrn TO medical_record_number;\n",
        "fail",
        min_sqlite=(3, 24, 0),
    ),
    LintCase("drop column on the default", "rollback", "ALTER TABLE t DROP COLUMN adt;\n", "pass"),
    LintCase(
        "rename column on 3.25",
        "schema",
        "ALTER TABLE t RENAME COLUMN mrn TO medical_record_number;\n",
        "pass",
        min_sqlite=(3, 25, 0),
    ),
    LintCase(
        "rename table is old",
        "schema",
        "ALTER TABLE t RENAME TO u;\n",
        "pass",
        min_sqlite=(3, 7, 17),
    ),
    LintCase(
        "silenced",
        "rollback",
        "-- noqa: MG510 rollbacks only run on the 3.40 servers\nALTER TABLE t DROP COLUMN adt;\n",
        "silenced",
        min_sqlite=(3, 31, 1),
    ),
)

RULE = Rule(
    CODE,
    "needs-newer-sqlite",
    "RENAME COLUMN needs SQLite 3.25.0, DROP COLUMN 3.35.0",
    __doc__ or "",
    check,
    CASES,
)
