"""MG505 add-not-null-without-default: `ADD COLUMN ... NOT NULL` without a non-NULL `DEFAULT`.

SQLite cannot add a `NOT NULL` column without a default value: the `ALTER TABLE` fails with
"Cannot add a NOT NULL column with default value NULL", on an empty table as on a full one, so
the migration can never run. (On other databases it fails only once the table has rows, which
is why it is easy to miss in review.)

Anti-pattern::

    ALTER TABLE patients ADD COLUMN mrn TEXT NOT NULL;

Best practice: a default the existing rows can take, then a data migration for the real values::

    ALTER TABLE patients ADD COLUMN mrn TEXT NOT NULL DEFAULT '';

Silence: `-- noqa: MG505` in the statement (or on the comment line above it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ci.checks.lint.rules.base import NAME, QUALIFIED, FileContext, Hit, LintCase, Rule

CODE = "MG505"


def check(ctx: FileContext) -> Iterator[Hit]:
    for sql in ctx.sql:
        match = sql.match(rf"^ALTER\s+TABLE\s+{QUALIFIED}\s+ADD\s+(?:COLUMN\s+)?({NAME})(.*)$")
        if match is None:
            continue
        definition = match[3]
        not_null = re.search(r"(?<!\bIS )\bNOT\s+NULL\b", _outside_parentheses(definition))
        default = re.search(r"\bDEFAULT\s+(?!NULL\b)\S", definition)
        if not_null and not default:
            yield Hit(
                sql,
                f"ADD COLUMN {match[2].lower()} NOT NULL without a DEFAULT fails in SQLite",
                "give the column a DEFAULT (e.g. DEFAULT '' or DEFAULT 0), "
                "then fill real values in a data migration",
            )


def _outside_parentheses(text: str) -> str:
    """`text` with every parenthesised part removed (CHECK (x IS NOT NULL) is not NOT NULL)."""
    previous = None
    while previous != text:
        previous, text = text, re.sub(r"\([^()]*\)", " ", text)
    return text


CASES = (
    LintCase("not null", "schema", "ALTER TABLE t ADD COLUMN mrn TEXT NOT NULL;\n", "fail"),
    LintCase(
        "default null is no default",
        "schema",
        "ALTER TABLE t ADD mrn TEXT DEFAULT NULL NOT NULL;\n",
        "fail",
    ),
    LintCase(
        "with default",
        "schema",
        "ALTER TABLE t ADD COLUMN mrn TEXT NOT NULL DEFAULT '';\n",
        "pass",
    ),
    LintCase("nullable", "schema", "ALTER TABLE t ADD COLUMN notes TEXT;\n", "pass"),
    LintCase(
        "check constraint is not a not null column",
        "schema",
        "ALTER TABLE t ADD COLUMN n INTEGER CHECK (n IS NOT NULL OR id < 0);\n",
        "pass",
    ),
    LintCase(
        "create table is fine",
        "schema",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, mrn TEXT NOT NULL);\n",
        "pass",
    ),
    LintCase(
        "silenced",
        "schema",
        "-- noqa: MG505 fails on purpose in the test fixture for the runner\n"
        "ALTER TABLE t ADD COLUMN mrn TEXT NOT NULL;\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "add-not-null-without-default",
    "SQLite rejects ADD COLUMN ... NOT NULL without a default",
    __doc__ or "",
    check,
    CASES,
)
