"""MG503 destructive-ddl: `DROP TABLE` or `DROP COLUMN` outside `rollback/`.

Dropping a table or a column destroys data that no rollback can bring back, and code still
deployed (the previous release, during a rolling deploy) may read it. Drop in a later release,
once nothing reads the data, in a migration reviewed for that purpose, or keep the data.
Not reported: `rollback/` files (undoing a migration drops what it created), dropping a table
created earlier in the same file (a scratch table), and the `DROP` of a table rebuild, where the
rows survive under the same name: SQLite's procedure (`CREATE TABLE new_t ...;
INSERT INTO new_t SELECT ... FROM t; DROP TABLE t; ALTER TABLE new_t RENAME TO t;`), the old
table renamed first (`ALTER TABLE t RENAME TO old_t; CREATE TABLE t ...;
INSERT INTO t SELECT ... FROM old_t; DROP TABLE old_t;`), rows copied out to a scratch table
and back, and `CREATE TABLE new_t AS SELECT ...` in place of the copy.

Anti-pattern::

    ALTER TABLE patients DROP COLUMN legacy_id;

Best practice: stop using the column in one release; drop it in a later one, saying so::

    -- noqa: MG503 legacy_id unused since release 4.2 (ticket OPS-118); backed up in 0011
    ALTER TABLE patients DROP COLUMN legacy_id;

Silence: `-- noqa: MG503` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import NAME, QUALIFIED, FileContext, Hit, LintCase, Rule, drop_table

CODE = "MG503"


def check(ctx: FileContext) -> Iterator[Hit]:
    if ctx.folder == "rollback":
        return
    for sql in ctx.sql:
        table = drop_table(sql)
        if table is not None and sql.index not in ctx.kept_drops:
            yield Hit(
                sql,
                f"DROP TABLE {table} destroys its rows outside a rollback",
                "keep the table (a rebuild copies its rows first), or drop it in a later release",
            )
        column = sql.match(rf"^ALTER\s+TABLE\s+{QUALIFIED}\s+DROP\s+(?:COLUMN\s+)?({NAME})")
        if column:
            yield Hit(
                sql,
                f"DROP COLUMN {column[2].lower()} destroys its data outside a rollback",
                "stop reading the column first, and drop it in a later release",
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
    LintCase(
        "rename-old-first without copy loses rows",
        "schema",
        "ALTER TABLE t RENAME TO _old_t;\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n"
        "DROP TABLE _old_t;\n",
        "fail",
    ),
    LintCase(
        "drop and create again",
        "schema",
        "DROP TABLE sso_nonce;\nCREATE TABLE sso_nonce (state TEXT PRIMARY KEY);\n",
        "fail",
    ),
    LintCase(
        "rows copied to a table of another name",
        "schema",
        "CREATE TABLE users2 (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO users2 (id) SELECT id FROM users;\nDROP TABLE users;\n",
        "fail",
    ),
    LintCase(
        "copy dropped too",
        "schema",
        "CREATE TABLE keep (id INTEGER);\nINSERT INTO keep SELECT id FROM t;\n"
        "DROP TABLE t;\nDROP TABLE keep;\n",
        "fail",
    ),
    LintCase("rollback drops what 0003 created", "rollback", "DROP TABLE alerts;\n", "pass"),
    LintCase(
        "rename-old-first rebuild",
        "schema",
        "ALTER TABLE t RENAME TO _old_t;\nCREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT);\n"
        "INSERT INTO t (id, s) SELECT id, s FROM _old_t;\nDROP TABLE _old_t;\n"
        "PRAGMA foreign_key_check;\n",
        "pass",
    ),
    LintCase(
        "copy out and back",
        "schema",
        "CREATE TEMP TABLE t_backup (id INTEGER, s TEXT);\n"
        "INSERT INTO t_backup SELECT id, s FROM t;\nDROP TABLE t;\n"
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT NOT NULL DEFAULT '');\n"
        "INSERT INTO t SELECT id, coalesce(s, '') FROM t_backup;\nDROP TABLE t_backup;\n"
        "PRAGMA foreign_key_check;\n",
        "pass",
    ),
    LintCase(
        "create as select rebuild",
        "schema",
        "CREATE TABLE t_new AS SELECT id, s FROM t;\nDROP TABLE t;\n"
        "ALTER TABLE t_new RENAME TO t;\nPRAGMA foreign_key_check;\n",
        "pass",
    ),
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
