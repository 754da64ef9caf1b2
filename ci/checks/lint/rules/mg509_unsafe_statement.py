"""MG509 unsafe-statement: `ATTACH`, `load_extension()` or `PRAGMA writable_schema`.

A migration changes one database through the runner's connection. `ATTACH` reaches another file
(whose path differs between machines, and which the runner neither backs up nor rolls back with
the migration); `load_extension()` loads native code (and fails on connections that did not enable
it; register functions and extensions with `--setup MODULE:FUNCTION` instead);
`PRAGMA writable_schema` edits `sqlite_master` directly and can corrupt the database beyond repair.
Reported in every folder.

Anti-pattern::

    ATTACH DATABASE '/var/lib/app/archive.db' AS archive;
    SELECT load_extension('./spellfix');

Best practice: copy between databases in application code or a one-off script; load extensions in
the `--setup` callable, which the runner and every check run on each connection.

Silence: `-- noqa: MG509` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import FileContext, Hit, LintCase, Rule

CODE = "MG509"


def check(ctx: FileContext) -> Iterator[Hit]:
    for sql in ctx.sql:
        if sql.keyword == "ATTACH":
            yield Hit(
                sql,
                "ATTACH reaches another database the runner does not manage",
                "change one database per migration; copy between databases outside migrations",
            )
        elif sql.match(r"\bLOAD_EXTENSION\s*\("):
            yield Hit(
                sql,
                "load_extension() loads native code from a migration",
                "load extensions in the --setup MODULE:FUNCTION callable",
            )
        elif sql.match(r"^PRAGMA\s+(?:[\w$]+\s*\.\s*)?WRITABLE_SCHEMA\b"):
            yield Hit(
                sql,
                "PRAGMA writable_schema edits sqlite_master directly and can corrupt the database",
                "use ALTER TABLE or SQLite's table rebuild procedure",
            )


CASES = (
    LintCase("attach", "data", "ATTACH DATABASE 'archive.db' AS archive;\n", "fail"),
    LintCase("load_extension", "schema", "SELECT load_extension('./spellfix');\n", "fail"),
    LintCase("writable_schema", "rollback", "PRAGMA writable_schema = ON;\n", "fail"),
    LintCase(
        "names in strings",
        "data",
        "UPDATE docs SET body = 'call load_extension(x); ATTACH' WHERE id = 1;\n",
        "pass",
    ),
    LintCase("ordinary pragma", "schema", "PRAGMA foreign_keys = OFF;\n", "pass"),
    LintCase(
        "silenced",
        "data",
        "-- noqa: MG509 one-off import from the 2019 archive, reviewed in OPS-77\n"
        "ATTACH DATABASE 'archive.db' AS archive;\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "unsafe-statement",
    "ATTACH, load_extension and writable_schema have no place in a migration",
    __doc__ or "",
    check,
    CASES,
)
