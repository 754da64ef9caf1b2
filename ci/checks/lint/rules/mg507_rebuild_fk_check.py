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

The same holds for every shape of rebuild MG503 knows (the old table renamed first, rows
copied out and back): the check comes after the rebuild's last step. When the old table is
renamed first, SQLite (3.26+, unless `PRAGMA legacy_alter_table = ON`) also points the foreign
keys of other tables at the renamed table, which the rebuild then drops: the check finds that.

Silence: `-- noqa: MG507` on the rebuild's last statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ci.checks.lint.rules.base import FileContext, Hit, LintCase, Rule

CODE = "MG507"


def check(ctx: FileContext) -> Iterator[Hit]:
    checks = [
        s.index
        for s in ctx.sql
        if re.match(r"^PRAGMA\s+(?:\w+\s*\.\s*)?FOREIGN_KEY_CHECK\b", s.code)
    ]
    for rebuild in ctx.rebuilds:
        if not any(index > rebuild.end for index in checks):
            last = ctx.sql[rebuild.end]
            yield Hit(
                last,
                f"table rebuild of {rebuild.table} without PRAGMA foreign_key_check after it",
                f"add PRAGMA foreign_key_check; after its last step ({last.verb} on line "
                f"{last.line})",
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
    LintCase(
        "rename-old-first rebuild",
        "schema",
        "ALTER TABLE t RENAME TO _old_t;\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO t (id) SELECT id FROM _old_t;\nDROP TABLE _old_t;\n",
        "fail",
    ),
    LintCase(
        "rename-old-first, checked before the old table is dropped",
        "schema",
        "ALTER TABLE t RENAME TO _old_t;\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO t (id) SELECT id FROM _old_t;\nPRAGMA foreign_key_check;\n"
        "DROP TABLE _old_t;\n",
        "fail",
    ),
    LintCase(
        "rename-old-first with check",
        "schema",
        "ALTER TABLE t RENAME TO _old_t;\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO t (id) SELECT id FROM _old_t;\nDROP TABLE _old_t;\n"
        "PRAGMA foreign_key_check;\n",
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
