"""MG503 destructive-ddl: `DROP TABLE` or `DROP COLUMN` outside `rollback/`.

Dropping a table or a column destroys data that no rollback can bring back, and code still
deployed (the previous release, during a rolling deploy) may read it. Drop in a later release,
once nothing reads the data, in a migration reviewed for that purpose, or keep the data.
Not reported: `rollback/` files (undoing a migration drops what it created), dropping a table
created earlier in the same file (a scratch table), and the `DROP` of SQLite's table rebuild
(`CREATE TABLE new_t ...; INSERT INTO new_t SELECT ... FROM t; DROP TABLE t;
ALTER TABLE new_t RENAME TO t;`), where the rows survive under the same name.

Anti-pattern::

    ALTER TABLE patients DROP COLUMN legacy_id;

Best practice: stop using the column in one release; drop it in a later one, saying so::

    -- noqa: MG503 legacy_id unused since release 4.2 (ticket OPS-118); backed up in 0011
    ALTER TABLE patients DROP COLUMN legacy_id;

Silence: `-- noqa: MG503` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.lint_rules.base import NAME, QUALIFIED, FileContext, Hit, LintCase, Rule, drop_table

CODE = "MG503"


def check(ctx: FileContext) -> Iterator[Hit]:
    if ctx.folder == "rollback":
        return
    rebuilt = {rebuild.drop for rebuild in ctx.rebuilds}
    for sql in ctx.sql:
        table = drop_table(sql)
        if table is not None:
            created = ctx.created_tables.get(table)
            if sql.index not in rebuilt and (created is None or created > sql.index):
                yield Hit(
                    sql,
                    f"DROP TABLE {table} destroys its rows outside a rollback",
                    "keep the table, or drop it in a later release and say why with "
                    "-- noqa: MG503 <reason>",
                )
        column = sql.match(rf"^ALTER\s+TABLE\s+{QUALIFIED}\s+DROP\s+(?:COLUMN\s+)?({NAME})")
        if column:
            yield Hit(
                sql,
                f"DROP COLUMN {column[2].lower()} destroys its data outside a rollback",
                "stop reading the column first; drop it in a later release and say why with "
                "-- noqa: MG503 <reason>",
            )


CASES = (
    LintCase("drop table", "schema", "DROP TABLE IF EXISTS main.legacy;\n", "fail"),
    LintCase("drop column", "schema", "ALTER TABLE t DROP COLUMN legacy_id;\n", "fail"),
    LintCase("drop column without keyword", "schema", "ALTER TABLE t DROP legacy_id;\n", "fail"),
    LintCase(
        "rebuild without copy loses rows",
        "schema",
        "CREATE TABLE t_new (id INTEGER PRIMARY KEY);\nDROP TABLE t;\n"
        "ALTER TABLE t_new RENAME TO t;\n",
        "fail",
    ),
    LintCase("rollback drops what 0003 created", "rollback", "DROP TABLE alerts;\n", "pass"),
    LintCase(
        "table rebuild",
        "schema",
        'CREATE TABLE "t_new" (id INTEGER PRIMARY KEY, s TEXT NOT NULL);\n'
        "INSERT INTO t_new (id, s) SELECT id, s FROM t;\nDROP TABLE t;\n"
        "ALTER TABLE t_new RENAME TO t;\nPRAGMA foreign_key_check;\n",
        "pass",
    ),
    LintCase(
        "scratch table",
        "data",
        "CREATE TEMP TABLE ids (id INTEGER);\nINSERT INTO ids SELECT id FROM t WHERE s IS NULL;\n"
        "UPDATE t SET s = '' WHERE id IN (SELECT id FROM ids);\nDROP TABLE ids;\n",
        "pass",
    ),
    LintCase("drop index is not destructive", "schema", "DROP INDEX idx_t_s;\n", "pass"),
    LintCase(
        "silenced",
        "schema",
        "ALTER TABLE t DROP COLUMN legacy_id; -- noqa: MG503 unused since 4.2, backed up in 0011\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "destructive-ddl",
    "DROP TABLE / DROP COLUMN outside rollback/ destroys data",
    __doc__ or "",
    check,
    CASES,
)
