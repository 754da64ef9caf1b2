"""MG508 explicit-transaction: `BEGIN`, `COMMIT`, `END` or `ROLLBACK` written in a migration.

The runner owns the transaction: it wraps each migration and its `schema_version` row in one
transaction, runs `PRAGMA foreign_key_check` before committing, and ignores these statements
(with a notice). Written in the file they mislead: a reader expects a `COMMIT` halfway to make the
first half permanent, or a `ROLLBACK` to undo something, and neither happens. Run elsewhere
(sqlite3 shell, another tool) the same file commits partially. Reported as an error so that the
file says what really happens. `SAVEPOINT`, `RELEASE` and `ROLLBACK TO` nest inside the runner's
transaction and are fine.

Anti-pattern::

    BEGIN TRANSACTION;
    ALTER TABLE patients ADD COLUMN mrn TEXT;
    COMMIT;

Best practice: only the change; for work that must not run in a transaction, mark the file
`-- @no-transaction`::

    ALTER TABLE patients ADD COLUMN mrn TEXT;

Silence: `-- noqa: MG508` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.lint_rules.base import FileContext, Hit, LintCase, Rule

CODE = "MG508"


def check(ctx: FileContext) -> Iterator[Hit]:
    for sql in ctx.sql:
        words = sql.top_words
        if sql.keyword in ("BEGIN", "COMMIT", "END") or (
            sql.keyword == "ROLLBACK" and "TO" not in words
        ):
            yield Hit(
                sql,
                f"explicit {sql.keyword}: the runner owns the transaction and ignores it",
                "remove it; the runner commits each migration atomically "
                "(use -- @no-transaction for work outside a transaction)",
            )


CASES = (
    LintCase(
        "begin and commit",
        "schema",
        "BEGIN TRANSACTION;\nCREATE TABLE t (id INTEGER);\nCOMMIT;\n",
        "fail",
    ),
    LintCase(
        "begin immediate", "data", "BEGIN IMMEDIATE;\nDELETE FROM t WHERE id < 0;\nEND;\n", "fail"
    ),
    LintCase("rollback", "data", "UPDATE t SET s = 1 WHERE id = 2;\nROLLBACK;\n", "fail"),
    LintCase(
        "savepoints nest",
        "data",
        "SAVEPOINT a;\nUPDATE t SET s = 1 WHERE id = 2;\nROLLBACK TO a;\nRELEASE a;\n",
        "pass",
    ),
    LintCase(
        "trigger begin end",
        "schema",
        "CREATE TRIGGER tr AFTER DELETE ON t BEGIN\n  DELETE FROM u WHERE t_id = old.id;\nEND;\n",
        "pass",
    ),
    LintCase(
        "silenced",
        "schema",
        "BEGIN; -- noqa: MG508 kept so the file also runs atomically in the sqlite3 shell\n"
        "CREATE TABLE t (id INTEGER);\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "explicit-transaction",
    "the runner owns the transaction; BEGIN/COMMIT/ROLLBACK in a file are ignored",
    __doc__ or "",
    check,
    CASES,
)
