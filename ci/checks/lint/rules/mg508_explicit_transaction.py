"""MG508 explicit-transaction: `BEGIN`, `COMMIT`, `END` or `ROLLBACK` written in a migration.

The runner owns the transaction: it wraps each migration and its `schema_version` row in one
transaction, runs `PRAGMA foreign_key_check` before committing, and ignores these statements
(with a notice), however they are spelled (`COMMIT TRANSACTION tx`, `end`, comments between the
words): SQLite itself tells the runner what each statement is. Written in the file they mislead:
a reader expects a `COMMIT` halfway to make the first half permanent, or a `ROLLBACK` to undo
something, and neither happens. Run elsewhere (sqlite3 shell, another tool) the same file
commits partially. Reported as an error so that the file says what really happens.

`SAVEPOINT`, `RELEASE` and `ROLLBACK TO` nest inside the runner's transaction and are fine, with
two exceptions the runner refuses (the migration fails), reported here too: a `RELEASE` or
`ROLLBACK TO` of a name the file did not open with `SAVEPOINT` before (the runner's transaction
is not the file's to end), and any savepoint in a `@no-transaction` migration (its statements
commit one by one; a savepoint would open a transaction the runner does not own).

Anti-pattern::

    BEGIN TRANSACTION;
    ALTER TABLE patients ADD COLUMN mrn TEXT;
    COMMIT;

Best practice: only the change; for work that must not run in a transaction, mark the file
`-- @no-transaction`::

    ALTER TABLE patients ADD COLUMN mrn TEXT;

A statement that starts with one of these words but does not parse (`BEGIN TRANSACTION` whose `;`
is missing, so SQLite reads it and the next statement as one) is reported with SQLite's own
syntax error: the runner fails on it, and another tool might run only its first half.

Silence: `-- noqa: MG508` in the statement (or on the comment line above it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from ci.checks.lint.rules.base import FileContext, Hit, LintCase, Rule
from ci.db.gatekeeper import IGNORE, SAVEPOINT, TRANSACTION, Screen, classify, prepare_error

CODE = "MG508"
# the first words of every transaction or savepoint statement (EXPLAIN prepares the one after it)
WORDS = frozenset(("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "EXPLAIN"))
FIX = (
    "remove it; the runner commits each migration atomically "
    "(use -- @no-transaction for work outside a transaction)"
)
FIX_SAVEPOINT = "open the savepoint in this file first, or remove the statement"
FIX_SYNTAX = "end the statement with ';' (SQLite reads it and the next one as one statement)"


def check(ctx: FileContext) -> Iterator[Hit]:
    """What the runner would do with each transaction or savepoint statement, decided by the
    same gatekeeper from what SQLite says the statement is."""
    screen = Screen(check=False, no_transaction=ctx.directives.no_transaction)
    for sql in ctx.sql:
        if sql.keyword not in WORDS:
            continue
        action = classify(sql.statement.sql)
        if action is None:
            error = _syntax_error(sql.statement.sql)
            if error is not None:
                yield Hit(sql, f"{sql.keyword} does not parse: {error}", FIX_SYNTAX)
            continue
        if action[0] not in (TRANSACTION, SAVEPOINT):
            continue  # not one (a trigger's BEGIN ... END is a CREATE TRIGGER), or no SQL
        screen.sql = sql.statement.sql
        verdict = screen.decide(*action)
        if verdict is None:
            screen.ran()
        elif verdict.kind == IGNORE:
            yield Hit(sql, f"explicit {sql.keyword}: {verdict.reason}", FIX)
        elif action[0] == TRANSACTION:  # a transaction named after the next statement
            yield Hit(sql, verdict.reason, FIX_SYNTAX)
        else:
            yield Hit(sql, f"{sql.keyword}: the runner refuses it: {verdict.reason}", FIX_SAVEPOINT)


def _syntax_error(sql: str) -> str | None:
    """SQLite's syntax error for a statement that does not prepare (None: it does, or it only
    names something this lint cannot see, such as a table)."""
    try:
        prepare_error(sql)
    except sqlite3.Error as error:
        text = str(error)
        return text if "syntax error" in text or "incomplete input" in text else None
    return None


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
        "commit with a name and comments",
        "data",
        "UPDATE t SET s = 1 WHERE id = 2;\n/*x*/ commit /*y*/ TRANSACTION tx;\n",
        "fail",
    ),
    LintCase(
        "transaction named by a lost semicolon",
        "schema",
        "CREATE INDEX t_s ON t(s);\nBEGIN TRANSACTION\nANALYZE;\n",
        "fail",
    ),
    LintCase(
        "savepoints nest",
        "data",
        "SAVEPOINT a;\nUPDATE t SET s = 1 WHERE id = 2;\nROLLBACK TO a;\nRELEASE a;\n",
        "pass",
    ),
    LintCase(
        "release of a savepoint the file did not open",
        "data",
        "UPDATE t SET s = 1 WHERE id = 2;\nRELEASE SAVEPOINT outer;\n",
        "fail",
    ),
    LintCase(
        "savepoint in a no-transaction migration",
        "data",
        "-- @no-transaction\nsavepoint a;\nUPDATE t SET s = 1 WHERE id = 2;\nRELEASE a;\n",
        "fail",
    ),
    LintCase(
        "trigger begin end",
        "schema",
        "CREATE TRIGGER tr AFTER DELETE ON t BEGIN\n  DELETE FROM u WHERE t_id = old.id;\nEND;\n",
        "pass",
    ),
    LintCase(
        "begin without its semicolon swallows the next statement",
        "schema",
        "BEGIN TRANSACTION\nCREATE TABLE t (id INTEGER);\n",
        "fail",
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
