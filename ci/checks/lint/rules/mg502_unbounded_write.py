"""MG502 unbounded-write: `UPDATE` or `DELETE` without a `WHERE` clause.

A statement without `WHERE` changes every row of the table; in a migration that is almost always a
forgotten condition, and it runs against production data. The rule applies in every folder,
`rollback/` included: a rollback that empties a table is as dangerous as a migration that does.
A `WHERE` inside a subquery does not count; the statement's own `WHERE` does.

Anti-pattern::

    UPDATE patients SET mrn = upper(mrn);

Best practice: say which rows, or, when every row really is meant, say so with a reason::

    UPDATE patients SET mrn = upper(mrn) WHERE mrn <> upper(mrn);
    -- noqa: MG502 every row: the column was added by the previous migration
    DELETE FROM import_buffer;

Silence: `-- noqa: MG502` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import FileContext, Hit, LintCase, Rule

CODE = "MG502"


def check(ctx: FileContext) -> Iterator[Hit]:
    for sql in ctx.sql:
        if sql.verb in ("UPDATE", "DELETE") and "WHERE" not in sql.after_verb():
            yield Hit(
                sql,
                f"{sql.verb} without WHERE changes every row of the table",
                "add the WHERE clause that selects the rows to change",
            )


CASES = (
    LintCase("update without where", "data", "UPDATE t SET s = upper(s);\n", "fail"),
    LintCase("delete without where", "rollback", "DELETE FROM t;\n", "fail"),
    LintCase(
        "where only in a subquery",
        "data",
        "UPDATE t SET s = (SELECT v FROM u WHERE u.id = t.id);\n",
        "fail",
    ),
    LintCase(
        "cte where does not count",
        "data",
        "WITH old AS (SELECT id FROM t WHERE s IS NULL) DELETE FROM u;\n",
        "fail",
    ),
    LintCase(
        "update with where", "data", "UPDATE t SET s = upper(s) WHERE s <> upper(s);\n", "pass"
    ),
    LintCase(
        "delete with where",
        "data",
        "DELETE FROM t WHERE id IN (SELECT id FROM u);\n",
        "pass",
    ),
    LintCase(
        "where in a string is not a where",
        "data",
        "UPDATE t SET note = 'WHERE';\n",
        "fail",
    ),
    LintCase(
        "silenced",
        "rollback",
        "-- noqa: MG502 rollback of 0009, which filled this new table from scratch\n"
        "DELETE FROM t;\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "unbounded-write",
    "UPDATE/DELETE without WHERE changes every row",
    __doc__ or "",
    check,
    CASES,
)
