"""Running a migration file's statements on PostgreSQL, one by one through the gatekeeper, and
the server's errors as the runner reports them: `file:line: message`, the line being the one
the server points at (its error position) when it gives one.

Also the run's lock: a session advisory lock on a key derived from the runner's table name,
held from before the plan is read until the connection closes, so two runners on one database
take turns; the server frees it when the session ends, also when the process was killed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors

from ci.core.model import SqlFile
from ci.core.sqltext import Statement
from ci.db.outcomes import CannotRun, MigrationFailed, runaway
from ci.db.postgres.connect import PgConnection, changed_rows, one_line
from ci.db.postgres.deadline import Deadline
from ci.db.postgres.do_line import do_body_line

# the engine takes PgGate from here too
from ci.db.postgres.statements import PgGate as PgGate
from ci.db.postgres.statements import PgStatement, split
from ci.db.tables import TABLE

# the advisory lock's key: fixed for the runner's table name, the same for every runner
LOCK_KEY = int.from_bytes(hashlib.sha256(f"migration-guard {TABLE}".encode()).digest()[:8],
                          "big", signed=True)  # fmt: skip


# 55P04: a label used in the transaction that added it. The runner commits after a migration
# whose statements add one (also --group and --dry-run: ci.db.postgres.enum_labels), so this is
# a use in the same migration, or after a label added where the runner cannot see it.
NEW_LABEL_HINT = (
    "an enum label added by ALTER TYPE ... ADD VALUE cannot be used before the transaction "
    "that added it commits: use it in a later migration; --group and --dry-run commit or stop "
    "after a migration that adds one in a statement or DO block, not after one added by "
    "EXECUTE or by a function it calls"
)


def statements(file: SqlFile) -> list[Statement]:
    """The file's statements as the server reads them; InputError (`file:line: why`) for
    text the server would not parse. A check's file was split so already (its splitter is
    PostgreSQL's: ci.checks.pg_engine.discover_for): those statements, with any parse tree
    built ahead (ci.db.postgres.parse_ahead), and no second split."""
    if file.splitter is not None:
        found = file.statements  # the same InputError as split's, for the same text
        if found and all(isinstance(statement, PgStatement) for statement in found):
            return found
    return split(file.text, source=file.location)


def run_file(
    conn: PgConnection,
    file: SqlFile,
    *,
    no_transaction: bool = False,
    rollback: bool = False,
    notice: Callable[[str], None],
    timeout: float | None = None,
) -> int:
    """Run the file's statements in the open transaction (or each on its own: no_transaction);
    the rows they changed. The settings the file changed are set back, failed or not.
    MigrationFailed names the failing statement's line; Runaway the statement running when the
    whole file had run for `timeout` seconds (--statement-timeout: a deadline for the
    migration, kept whatever the file sets)."""
    gate = PgGate(
        conn,
        no_transaction=no_transaction,
        rollback=rollback,
        throwaway=conn.throwaway,
        dry_run=conn.dry_run,
    )
    before = conn.changes
    try:
        with Deadline(conn, timeout) as deadline:
            line = None
            for statement in statements(file):
                line = statement.line
                conn.running = (file, statement)
                if deadline.expired:  # its cancel came between two statements
                    raise runaway(file.path, line, timeout)
                try:
                    refused = gate.execute(statement, notice=_located(notice, file, statement))
                except psycopg.Error as error:
                    raise failure(conn, error, file, statement, timeout, deadline) from None
                if refused is not None:
                    raise MigrationFailed(file.path, statement.line, refused)
            if deadline.expired:
                raise runaway(file.path, line, timeout)
    finally:
        conn.running = None
        if not is_connection_lost(conn):
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.execute("ROLLBACK")  # a failed transaction runs nothing more: RESET neither
            gate.restore()
    return conn.changes - before


# statements of one file sent at once at most: a generated data migration of 200,000 INSERTs
# runs one by one, rather than holding 200,000 answers
AHEAD_LIMIT = 1000


def run_file_ahead(
    conn: PgConnection,
    file: SqlFile,
    *,
    notice: Callable[[str], None],
    timeout: float | None,
    then: Callable[[], None],
) -> tuple[int, psycopg.Error | None]:
    """`run_file` in the open transaction, with every statement sent in one round trip
    (psycopg's pipeline mode) when the gate passes each of them as it is (`ahead`); one by one
    otherwise. The server runs them in order and stops at the first that fails, which is
    reported as `run_file` reports it (its line, a runaway, a lost connection). `then` sends
    what follows the file in the same round trip (its answers read by the caller): the rows
    the file changed, and the error of what `then` sent, if it failed."""
    sendable = ahead(PgGate(conn, throwaway=conn.throwaway, dry_run=conn.dry_run), file)
    if sendable is None:
        return run_file(conn, file, notice=notice, timeout=timeout), _pipelined(conn, then)
    cursors = [conn.cursor() for _ in sendable]

    def send() -> None:
        for statement, cursor in zip(sendable, cursors, strict=True):
            cursor.execute(statement.raw, prepare=False)
        then()

    conn.running = (file, None)  # sent at once: a notice cannot say which statement
    try:
        with Deadline(conn, timeout) as deadline:
            failed = _pipelined(conn, send)
            stopped = next((i for i, c in enumerate(cursors) if c.pgresult is None), None)
            if failed is not None and stopped is not None:
                raise failure(conn, failed, file, sendable[stopped], timeout, deadline) from None
            if deadline.expired:  # its cancel came after the last statement
                raise runaway(file.path, sendable[-1].line if sendable else None, timeout)
    finally:
        conn.running = None
    rows = sum(changed_rows(cursor.statusmessage) for cursor in cursors)
    conn.changes += rows  # answered after the cursors' own count (CountingCursor) looked
    return rows, failed


def _pipelined(conn: PgConnection, send: Callable[[], None]) -> psycopg.Error | None:
    """What `send` sends, in one pipeline; the first error (those after it were not run)."""
    failed: psycopg.Error | None = None
    try:
        with conn.pipeline():
            try:
                send()
            except psycopg.Error as error:  # an answer read while sending: end quietly
                failed = error  # (raising here, psycopg would log 'error ignored')
    except psycopg.Error as error:
        failed = failed or error
    return failed


def ahead(gate: PgGate, file: SqlFile) -> list[Statement] | None:
    """The file's statements to send at once, when the gate sends each of them as it is
    (PgGate.as_is) and they are at most AHEAD_LIMIT; None: they run one by one."""
    sendable: list[Statement] = []
    for statement in statements(file):
        if not isinstance(statement, PgStatement):
            return None
        tree = statement.tree
        if tree is None:
            continue  # comments only: `execute` sends nothing either
        if len(sendable) == AHEAD_LIMIT or not gate.as_is(statement, tree):
            return None
        sendable.append(statement)
    return sendable


def _located(
    notice: Callable[[str], None], file: SqlFile, statement: Statement
) -> Callable[[str], None]:
    return lambda message: notice(f"{file.location}:{statement.line}: notice: {message}")


def failure(
    conn: PgConnection,
    error: psycopg.Error,
    file: SqlFile,
    statement: Statement,
    timeout: float | None,
    deadline: Deadline | None = None,
) -> MigrationFailed:
    """The finding for a statement the server refused; CannotRun when the connection itself
    failed (the server went away: nothing of the open transaction was committed)."""
    if is_connection_lost(conn):
        raise CannotRun(
            f"the connection to the server was lost while {file.location}:{statement.line} ran "
            f"({one_line(error)}); its migration was not committed"
        )
    line = said_line(error.diag, file, statement)
    stopped = deadline is not None and deadline.expired
    if deadline is not None and stopped and isinstance(error, errors.QueryCanceled):
        # the runner's cancel stopped this statement (used up), not the server's own timeout
        deadline.cancelled = not is_statement_timeout(error)
    if isinstance(error, errors.QueryCanceled) and (stopped or is_statement_timeout(error)):
        return runaway(file.path, line, timeout)
    if is_cancel_request(error):
        raise cancelled_from_outside(f"{file.location}:{line}", error, conn, file)
    message = one_line(error)
    diag = error.diag
    if diag.message_detail:
        message += f" ({' '.join(diag.message_detail.split())})"
    if isinstance(error, errors.LockNotAvailable):
        message += " (--lock-timeout: another session holds a lock this statement needs)"
    if isinstance(error, errors.UnsafeNewEnumValueUsage):
        message += f" ({NEW_LABEL_HINT})"
    return MigrationFailed(file.path, line, message)


# the server's words for a cancel request (pg_cancel_backend, a client's cancel) and for a
# statement timeout: the same SQLSTATE (57014) as each other, and as a file's own RAISE ...
# USING ERRCODE = 'query_canceled', which is neither. On a server that speaks another language
# (lc_messages) neither matches: both are then the file's failure.
CANCEL_REQUEST = "canceling statement due to user request"
STATEMENT_TIMEOUT = "canceling statement due to statement timeout"


def is_cancel_request(error: psycopg.Error) -> bool:
    return isinstance(error, errors.QueryCanceled) and error.diag.message_primary == CANCEL_REQUEST


def is_statement_timeout(error: psycopg.Error) -> bool:
    """The server's statement_timeout (the file's own, or the role's), not a file's RAISE that
    happens to say the words."""
    primary = error.diag.message_primary
    return isinstance(error, errors.QueryCanceled) and primary == STATEMENT_TIMEOUT


def cancelled_from_outside(
    where: str, error: psycopg.Error, conn: PgConnection | None = None, file: SqlFile | None = None
) -> CannotRun:
    """A statement cancelled by neither the run's deadline nor a timeout: another session
    (pg_cancel_backend) or an interrupt's cancel reaching the server late. That says nothing
    about the SQL: the run could not finish (exit 2), never a finding on the file. (A file
    that cancels its own statement reads the same: the server does not say who asked.)"""
    then = "run it again"
    # what ran before it stays: a @no-transaction migration's statements, a @batch one's batches
    directives = file.directives if file is not None else None
    dirty = directives is not None and (directives.no_transaction or directives.batch is not None)
    if dirty and conn is not None and not conn.throwaway:
        then = "the migration is marked dirty: finish it with --resume"
    return CannotRun(
        f"{where} was cancelled from outside the run ({one_line(error)}: another session or an "
        f"interrupt); it was not a failure of the SQL: {then}"
    )


def said_line(diag: psycopg.errors.Diagnostic, file: SqlFile, statement: Statement) -> int:
    """The file's line an error or notice of the server about `statement` points at: its
    position, or in a DO block the line of the body it came from; the statement's first line
    when it gives neither. The position counts characters of `statement.raw`, what the gate
    sends, which starts at `statement.offset` in the file."""
    position = diag.statement_position
    if not position or not position.isdigit():
        within = do_body_line(diag.context, statement.raw)
        if within is None:
            return statement.line
        return file.text.count("\n", 0, statement.offset) + within
    at = statement.offset + int(position) - 1
    return max(file.text.count("\n", 0, at) + 1, statement.line)


def is_connection_lost(conn: PgConnection) -> bool:
    """The session is gone (server restart, network, terminated backend), not the SQL."""
    return conn.closed or conn.broken


# --- the run's lock --------------------------------------------------------------------------


def take_lock(conn: PgConnection, *, timeout: float, where: str) -> None:
    """Wait up to `timeout` seconds for the runner's advisory lock; CannotRun (one line) after."""
    wait_ms = max(1, int(timeout * 1000))  # 0 would mean: wait for ever
    conn.execute(f"SET lock_timeout = {wait_ms}")
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    except errors.LockNotAvailable:
        raise CannotRun(
            f"{where}: locked by another process: {lock_holder(conn)} is migrating this "
            f"database (waited {timeout:g} s, --busy-timeout); try again when it has finished"
        ) from None
    finally:
        conn.execute("RESET lock_timeout")


def lock_is_free(conn: PgConnection) -> bool:
    """Whether no runner holds the lock now (taken and given back at once)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    if row is None or not row[0]:
        return False
    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return True


def lock_holder(conn: PgConnection) -> str:
    """The session that holds the runner's lock, as the server knows it."""
    row: Any = conn.execute(
        "SELECT a.pid, a.application_name, a.client_addr FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
        "AND l.granted AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database()) "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s LIMIT 1",
        (LOCK_KEY,),
    ).fetchone()
    if row is None:
        return "another session"
    pid, application, address = row
    return f"server process {pid} ({application or 'no application name'}" + (
        f" from {address})" if address else ")"
    )
