"""What a `@batch N` migration is on either engine (ci.db.batch on SQLite,
ci.db.postgres.batch on PostgreSQL): the loop that repeats the statement until it changes no
row, the bound that stops one that would never end, the @progress query's answer, and how a
failure says what stays committed. The engines supply the transactions and the row counts.

A batch must never change a row twice (its WHERE excludes the rows already done), so in one run
the statement changes at most as many rows as its table holds: those there when the run started
(UPDATE, DELETE) or there now (an INSERT adds the rows it changes). A statement that changes
more than both together keeps matching rows it already changed (`SET x = x + 1` with a WHERE
that stays true) and would never end: it stops with a Runaway failure naming the statement (see
BatchBound). An INSERT that keeps adding new rows forever is not caught this way; the checks' and
the runner's --statement-timeout stop it.
"""

from __future__ import annotations

from collections.abc import Callable

from ci.core.model import Migration, SqlFile
from ci.core.sqltext import Statement
from ci.db.outcomes import MigrationFailed, Runaway
from ci.db.progress import Progress

ROWID_EXAMPLE = "... WHERE rowid IN (SELECT rowid FROM t WHERE ... LIMIT :batch_size)"
KEY_EXAMPLE = "... WHERE id IN (SELECT id FROM t WHERE ... LIMIT :batch_size)"


def batch_problems(
    file: SqlFile,
    statements: list[Statement],
    *,
    code_of: Callable[[Statement], str] = lambda statement: statement.code,
    example: str = ROWID_EXAMPLE,
) -> list[str]:
    """Why `file` cannot be a @batch migration: it must be ONE DML statement that uses
    :batch_size. `code_of`: the statement's code as written (PostgreSQL splits the file with
    the number in its place); `example`: how to use it, in the engine's words."""
    if not statements:
        return [f"{file.path}: a @batch migration needs ONE DML statement; it has none"]
    if len(statements) != 1:
        return [
            f"{file.path}:{statements[1].line}: a @batch migration is ONE DML statement; "
            "move the others to their own migration"
        ]
    statement = statements[0]
    if ":batch_size" not in code_of(statement):
        return [
            f"{file.path}:{statement.line}: a @batch statement must use :batch_size "
            f"(e.g. {example})"
        ]
    if statement.keyword not in ("UPDATE", "DELETE", "INSERT", "REPLACE", "WITH"):
        return [
            f"{file.path}:{statement.line}: a @batch statement must be DML, not {statement.keyword}"
        ]
    return []


def repeat_batches(batch: Callable[[], int], progress: Progress) -> None:
    """Run `batch` until it changes no row. `batch` is one transaction: the statement and the
    mark's rows committed (it returns the rows changed), or, when the statement changed
    nothing, the migration's row written in that same transaction (it returns 0)."""
    while True:
        changed = batch()
        if not changed:
            return
        progress.update(changed)


def finished_batches(rows: int) -> str:
    """What of a failed @batch migration stays committed: the batches before the failing one."""
    if not rows:
        return "none of its batches was committed"
    return f"its finished batches ({rows:,} rows) stay committed"


def progress_line(migration: Migration) -> int | None:
    """The line of the migration's `@progress` directive (where its query's failure is named)."""
    lines = migration.file.text.split("\n")
    return next((n for n, text in enumerate(lines, 1) if "@progress" in text), None)


def progress_total(migration: Migration, row: object) -> int:
    """The @progress query's first row as the rows still to do; MigrationFailed on its line
    when it is not one number."""
    value = row[0] if isinstance(row, tuple | list) and row else None
    if row is None or isinstance(value, bool) or not isinstance(value, int):
        raise MigrationFailed(
            migration.path, progress_line(migration), "@progress query must return one number"
        )
    return int(value)


class BatchBound:
    """Stops a @batch statement that changes more rows in one run than its table can hold.

    Legitimately the statement changes each row at most once, so the rows it changed (its own,
    not its triggers') stay at or below max(rows at the start, rows now) <= their sum. The
    table is counted (`rows`, the engine's) once at the start and again only each time the
    total passes the bound (an INSERT into an empty table: at 1, 2, 4, 8, ... times its first
    batch), so the counting costs about one more pass over the table. A runaway UPDATE stops
    after twice the table. An engine's bound sets `table` (None: it counts every table) and
    then calls this __init__."""

    table: str | None

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self.start = self.rows()
        self.bound = self.start
        self.changed = 0
        self.batches = 0

    def rows(self) -> int:
        """Rows of the statement's table (of every table when it cannot be told)."""
        raise NotImplementedError

    def passed(self, rowcount: int, migration: Migration) -> None:
        """Count one batch's rows; raise Runaway when the run changed more than can be."""
        self.batches += 1
        self.changed += max(rowcount, 0)
        if self.changed <= self.bound:
            return
        self.bound = self.start + self.rows()
        if self.changed <= self.bound:
            return
        raise Runaway(
            migration.path,
            self.statement.line,
            f"@batch: {self.batches:,} batches changed {self.changed:,} rows, more than "
            f"{self.table or 'the database'} holds (at most {self.bound:,}: its rows at the "
            "start plus now); its WHERE keeps matching rows already changed, so it would "
            "never end",
            "make the WHERE exclude the rows already done (e.g. WHERE x IS NULL for a "
            "backfill of x), so the last batch changes nothing",
        )
