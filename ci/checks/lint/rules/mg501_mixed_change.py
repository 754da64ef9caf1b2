"""MG501 mixed-change: DDL in `data/` or `seed/`, DML in `schema/`.

Keep schema changes and data changes in separate migrations (DOC-PROC-006: "don't mix schema and
data changes"): a schema migration must be cheap and predictable on any database, a data
migration's cost grows with the rows, and each needs its own rollback and review. `rollback/` files
are exempt (undoing a migration may need both), and so is a scratch table in a data migration
(`CREATE TEMP TABLE`, or a table created and dropped in the same file). In `schema/`, the copy
step of SQLite's table rebuild (`INSERT INTO new_t SELECT ... FROM t` where `new_t` is created in
the same file) is allowed.

Anti-pattern (`schema/0007_add_status.sql`)::

    ALTER TABLE orders ADD COLUMN status TEXT NOT NULL DEFAULT 'new';
    UPDATE orders SET status = 'shipped' WHERE shipped_at IS NOT NULL;

Best practice: the DDL in `schema/0007_add_status.sql`, the backfill in
`data/0008_backfill_status.sql`.

Silence: `-- noqa: MG501` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import (
    DDL_VERBS,
    DML_VERBS,
    FileContext,
    Hit,
    LintCase,
    Rule,
    drop_table,
    insert_target,
)

CODE = "MG501"


def check(ctx: FileContext) -> Iterator[Hit]:
    if ctx.folder in ("data", "seed"):
        for sql in ctx.sql:
            if sql.keyword in DDL_VERBS and not _scratch_table(ctx, sql.index):
                yield Hit(
                    sql,
                    f"schema change ({sql.keyword}) in a {ctx.folder} migration",
                    "move the DDL into a schema/ migration of its own",
                )
    elif ctx.folder == "schema":
        for sql in ctx.sql:
            if sql.verb not in DML_VERBS or _rebuild_copy(ctx, sql.index):
                continue
            if insert_target(sql) == "schema_version":
                yield Hit(
                    sql,
                    "INSERT INTO schema_version: the runner records each migration itself",
                    "remove it; the runner writes its own schema_version row",
                )
            else:
                yield Hit(
                    sql,
                    f"data change ({sql.verb}) in a schema migration",
                    "move the DML into a data/ migration (reference rows: seed/)",
                )


def _scratch_table(ctx: FileContext, index: int) -> bool:
    """`CREATE TEMP TABLE`, or dropping a table created earlier in this file: working space."""
    sql = ctx.sql[index]
    if sql.match(r"^CREATE\s+TEMP(?:ORARY)?\s+TABLE\b"):
        return True
    dropped = drop_table(sql)
    created = ctx.created_tables.get(dropped) if dropped else None
    return created is not None and created < index


def _rebuild_copy(ctx: FileContext, index: int) -> bool:
    """`INSERT INTO t ... SELECT` into a table created earlier in this file (a table rebuild)."""
    if not ctx.created_tables:
        return False
    sql = ctx.sql[index]
    target = insert_target(sql)
    created = ctx.created_tables.get(target) if target else None
    return created is not None and created < index and "SELECT" in sql.top_words


CASES = (
    LintCase(
        "update in schema",
        "schema",
        "ALTER TABLE t ADD COLUMN s TEXT;\nUPDATE t SET s = 'x' WHERE id = 1;\n",
        "fail",
    ),
    LintCase(
        "bookkeeping row written by hand",
        "schema",
        "CREATE TABLE t (id INTEGER);\n"
        "INSERT INTO schema_version (version, description) VALUES (3, 't');\n",
        "fail",
    ),
    LintCase("create in data", "data", "CREATE INDEX idx_t_s ON t (s);\n", "fail"),
    LintCase("create table in seed", "seed", "CREATE TABLE settings (k TEXT);\n", "fail"),
    LintCase(
        "cte update in schema",
        "schema",
        "WITH x AS (SELECT 1 AS id) UPDATE t SET s = 'y' WHERE id IN (SELECT id FROM x);\n",
        "fail",
    ),
    LintCase(
        "scratch table in data",
        "data",
        "CREATE TEMP TABLE ids AS SELECT id FROM t WHERE s IS NULL;\n"
        "UPDATE t SET s = '' WHERE id IN (SELECT id FROM ids);\nDROP TABLE ids;\n",
        "pass",
    ),
    LintCase("ddl only in schema", "schema", "CREATE TABLE t (id INTEGER PRIMARY KEY);\n", "pass"),
    LintCase("dml only in data", "data", "UPDATE t SET s = 'x' WHERE s IS NULL;\n", "pass"),
    LintCase(
        "trigger body is not dml",
        "schema",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET s = 'x' WHERE id = new.id;\nEND;\n",
        "pass",
    ),
    LintCase(
        "rebuild copy in schema",
        "schema",
        "CREATE TABLE t_new (id INTEGER PRIMARY KEY, s TEXT NOT NULL);\n"
        "INSERT INTO t_new (id, s) SELECT id, coalesce(s, '') FROM t;\n",
        "pass",
    ),
    LintCase(
        "rollback is exempt", "rollback", "DELETE FROM t WHERE id > 5;\nDROP INDEX i;\n", "pass"
    ),
    LintCase(
        "silenced",
        "schema",
        "CREATE TABLE kinds (k TEXT PRIMARY KEY);\n"
        "-- noqa: MG501 the table is new and empty; its two rows belong with it\n"
        "INSERT INTO kinds (k) VALUES ('a'), ('b');\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "mixed-change",
    "schema and data changes go in separate migrations",
    __doc__ or "",
    check,
    CASES,
)
