"""MG507 rebuild-without-fk-check: a table rebuild without `PRAGMA foreign_key_check`.

SQLite's procedure for changes `ALTER TABLE` cannot make (create the new table, copy the rows,
drop the old table, rename the new one; https://sqlite.org/lang_altertable.html#otheralter) runs
with foreign keys off, so nothing stops rows of other tables from pointing at rows the copy left
out or changed. Step 10 of that procedure is `PRAGMA foreign_key_check`. The runner also checks
before committing, but the file should be correct wherever it runs (sqlite3 shell, another
runner) and say what it relies on.

Anti-pattern::

    PRAGMA foreign_keys = OFF;
    CREATE TABLE vitals_new (...);
    INSERT INTO vitals_new (...) SELECT ... FROM vitals;
    DROP TABLE vitals;
    ALTER TABLE vitals_new RENAME TO vitals;

Best practice: the same, then::

    PRAGMA foreign_key_check;

Silence: `-- noqa: MG507` on the `ALTER TABLE ... RENAME TO` statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ci.lint_rules.base import FileContext, Hit, LintCase, Rule

CODE = "MG507"


def check(ctx: FileContext) -> Iterator[Hit]:
    checks = [
        s.index
        for s in ctx.sql
        if re.match(r"^PRAGMA\s+(?:\w+\s*\.\s*)?FOREIGN_KEY_CHECK\b", s.code)
    ]
    for rebuild in ctx.rebuilds:
        if not any(index > rebuild.rename for index in checks):
            yield Hit(
                ctx.sql[rebuild.rename],
                f"table rebuild of {rebuild.old} without PRAGMA foreign_key_check after it",
                "add PRAGMA foreign_key_check; after the ALTER TABLE ... RENAME TO",
            )


_REBUILD = (
    "PRAGMA foreign_keys = OFF;\n"
    "CREATE TABLE t_new (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p (id));\n"
    "INSERT INTO t_new (id, p) SELECT id, p FROM t;\n"
    "DROP TABLE t;\n"
)

CASES = (
    LintCase("rebuild", "schema", _REBUILD + "ALTER TABLE t_new RENAME TO t;\n", "fail"),
    LintCase(
        "check before the rename does not count",
        "schema",
        _REBUILD + "PRAGMA foreign_key_check;\nALTER TABLE t_new RENAME TO t;\n",
        "fail",
    ),
    LintCase(
        "rebuild with check",
        "schema",
        _REBUILD + "ALTER TABLE t_new RENAME TO t;\nPRAGMA foreign_key_check(t);\n",
        "pass",
    ),
    LintCase("plain rename", "schema", "ALTER TABLE t RENAME TO u;\n", "pass"),
    LintCase(
        "silenced",
        "schema",
        _REBUILD + "ALTER TABLE t_new RENAME TO t; -- noqa: MG507 no table references t\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "rebuild-without-fk-check",
    "a table rebuild must end with PRAGMA foreign_key_check",
    __doc__ or "",
    check,
    CASES,
)
