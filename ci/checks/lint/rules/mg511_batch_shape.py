"""MG511 batch-shape: a `-- @batch` file that is not exactly one DML statement using `:batch_size`.

The runner repeats a `@batch` migration, committing after each batch, until it changes no row
. That only terminates, and only resumes correctly, when the file is one `UPDATE`,
`DELETE` or `INSERT` whose rows are limited by `:batch_size` and which stops matching rows it has
already done. A second statement would be repeated too; a statement without `:batch_size` changes
everything in the first batch. `-- @progress` only means something together with `-- @batch`.

Anti-pattern::

    -- @batch 10000
    UPDATE vitals SET unit = 'mmHg' WHERE unit IS NULL;

Best practice::

    -- @batch 10000
    -- @progress SELECT COUNT(*) FROM vitals WHERE unit IS NULL
    UPDATE vitals SET unit = 'mmHg'
    WHERE rowid IN (SELECT rowid FROM vitals WHERE unit IS NULL LIMIT :batch_size);

Silence: `-- noqa: MG511` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import FileContext, Hit, LintCase, Rule

CODE = "MG511"


def check(ctx: FileContext) -> Iterator[Hit]:
    if not ctx.sql:
        return
    first = ctx.sql[0]
    if ctx.directives.batch is None:
        if ctx.directives.progress is not None:
            yield Hit(first, "@progress without @batch is ignored", "add -- @batch <rows>")
        return
    if len(ctx.sql) > 1:
        yield Hit(
            ctx.sql[1],
            f"@batch file has {len(ctx.sql)} statements; the runner repeats the whole file",
            "keep exactly one DML statement in a @batch file",
        )
    for sql in ctx.sql:
        if sql.verb not in ("UPDATE", "DELETE", "INSERT", "REPLACE"):
            yield Hit(
                sql, f"@batch statement is {sql.verb}, not DML", "use UPDATE, DELETE or INSERT"
            )
        elif ":BATCH_SIZE" not in sql.code:
            yield Hit(
                sql,
                "@batch statement does not use :batch_size, so one batch changes every row",
                "limit the rows: WHERE rowid IN (SELECT rowid FROM t WHERE ... LIMIT :batch_size)",
            )


_GOOD = (
    "UPDATE vitals SET unit = 'mmHg'\n"
    "WHERE rowid IN (SELECT rowid FROM vitals WHERE unit IS NULL LIMIT :batch_size);\n"
)

CASES = (
    LintCase(
        "no batch_size",
        "data",
        "-- @batch 1000\nUPDATE vitals SET unit = 'mmHg' WHERE unit IS NULL;\n",
        "fail",
    ),
    LintCase("two statements", "data", "-- @batch 1000\n" + _GOOD + "VACUUM;\n", "fail"),
    LintCase(
        "batch_size in a string only",
        "data",
        "-- @batch 1000\nUPDATE t SET s = ':batch_size' WHERE s IS NULL;\n",
        "fail",
    ),
    LintCase(
        "progress without batch",
        "data",
        "-- @progress SELECT COUNT(*) FROM vitals\n" + _GOOD,
        "fail",
    ),
    LintCase(
        "one batched update",
        "data",
        "-- @batch 1000\n-- @progress SELECT COUNT(*) FROM vitals WHERE unit IS NULL\n" + _GOOD,
        "pass",
    ),
    LintCase("no directive", "data", "UPDATE t SET s = 1 WHERE s IS NULL;\nVACUUM;\n", "pass"),
    LintCase(
        "silenced",
        "data",
        "-- @batch 1000\n"
        "-- noqa: MG511 the table holds at most 50 rows; batching is for the progress line\n"
        "UPDATE t SET s = 1 WHERE s IS NULL;\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "batch-shape",
    "a @batch file is one DML statement limited by :batch_size",
    __doc__ or "",
    check,
    CASES,
)
