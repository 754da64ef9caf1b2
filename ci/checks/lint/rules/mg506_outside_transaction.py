"""MG506 needs-no-transaction: `PRAGMA foreign_keys`, `VACUUM` or `journal_mode` in a transaction.

The runner applies each migration inside one transaction, and there SQLite makes these
statements a silent no-op or an error:

- `PRAGMA foreign_keys = ...` is a no-op inside a transaction. The runner honours it only at the
  top of the file (before the first other statement): it sets it outside the transaction, as
  SQLite's table rebuild procedure needs, and restores it after the migration. Anywhere else the
  runner skips it with a notice, in every kind of file.
- `VACUUM` fails: "cannot VACUUM from within a transaction".
- `PRAGMA journal_mode = ...` into or out of WAL fails inside a transaction ("cannot change
  into wal mode from within a transaction"); between the other modes SQLite changes it only
  before the transaction's first write and silently keeps the old mode after it. The new mode
  then stays for the rest of the run, the next migrations' included. (`OFF` and `MEMORY` are
  refused by the runner in every file: without a rollback journal on disk a failing migration
  cannot be rolled back, nor survive a crash.)

A migration marked `-- @no-transaction` runs each statement on its own, outside a transaction,
where `VACUUM` and `journal_mode` work; the rule does not report those two there. (Rollback files
always run in a transaction.)

Anti-pattern::

    CREATE TABLE t_new (...);
    PRAGMA foreign_keys = OFF;
    ...
    VACUUM;

Best practice: `PRAGMA foreign_keys = OFF;` as the first statement of the file, before
everything else; `VACUUM` in a migration of its own, marked::

    -- @no-transaction
    VACUUM;

Silence: `-- noqa: MG506` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import FileContext, Hit, LintCase, Rule, Sql

CODE = "MG506"


def check(ctx: FileContext) -> Iterator[Hit]:
    autocommit = ctx.directives.no_transaction and ctx.folder != "rollback"
    at_top = True
    for sql in ctx.sql:
        pragma = _pragma_set(sql)
        if pragma == "FOREIGN_KEYS":
            if not at_top:
                yield Hit(
                    sql,
                    "PRAGMA foreign_keys after other statements is a no-op inside the "
                    "migration's transaction",
                    "move it to the top of the file, before every other statement",
                )
            continue
        at_top = False
        if autocommit:
            continue
        if sql.keyword == "VACUUM":
            yield Hit(
                sql,
                "VACUUM fails inside the migration's transaction",
                "move it to its own migration marked -- @no-transaction",
            )
        elif pragma == "JOURNAL_MODE":
            yield Hit(
                sql,
                "PRAGMA journal_mode inside the migration's transaction fails for WAL and is "
                "ignored after the first write",
                "set it where the database is opened, or in a migration marked -- @no-transaction",
            )


def _pragma_set(sql: Sql) -> str | None:
    """The pragma a `PRAGMA [schema.]name = value` / `name(value)` statement sets, or None."""
    match = sql.match(r"^PRAGMA\s+(?:[\w$]+\s*\.\s*)?(\w+)\s*(?:=|\()")
    return match[1] if match else None


CASES = (
    LintCase(
        "foreign_keys after a statement",
        "schema",
        "CREATE TABLE t (id INTEGER PRIMARY KEY);\nPRAGMA foreign_keys = OFF;\n",
        "fail",
    ),
    LintCase(
        "foreign_keys on at the end of a rebuild",
        "schema",
        "PRAGMA foreign_keys=OFF;\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n"
        "PRAGMA foreign_keys=ON;\n",
        "fail",
    ),
    LintCase("vacuum", "data", "DELETE FROM t WHERE id < 0;\nVACUUM;\n", "fail"),
    LintCase("journal_mode", "schema", "PRAGMA main.journal_mode = WAL;\n", "fail"),
    LintCase(
        "foreign_keys at the top",
        "schema",
        "-- @irreversible rebuild\nPRAGMA foreign_keys = OFF;\nCREATE TABLE t (id INTEGER);\n",
        "pass",
    ),
    LintCase("reading a pragma", "schema", "PRAGMA foreign_keys;\nPRAGMA journal_mode;\n", "pass"),
    LintCase("vacuum without transaction", "data", "-- @no-transaction\nVACUUM;\n", "pass"),
    LintCase(
        "foreign_keys late in a no-transaction file",
        "data",
        "-- @no-transaction\nDELETE FROM t WHERE id < 0;\nPRAGMA foreign_keys = OFF;\n",
        "fail",
    ),
    LintCase(
        "rollbacks always run in a transaction",
        "rollback",
        "-- @no-transaction\nVACUUM;\n",
        "fail",
    ),
    LintCase(
        "silenced",
        "data",
        "DELETE FROM t WHERE id < 0;\nVACUUM; -- noqa: MG506 expected to fail: runner test\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "needs-no-transaction",
    "PRAGMA foreign_keys, VACUUM and journal_mode do nothing or fail in a transaction",
    __doc__ or "",
    check,
    CASES,
)
