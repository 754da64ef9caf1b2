"""Running a migration file's statements on the runner's connection, one by one.

Never `executescript` (it commits on its own). The common statement runs with no authorizer call
at all; one that may be transaction control, a PRAGMA, an ATTACH or a write to the runner's own
tables goes through the gatekeeper (ci.db.gatekeeper), which runs, ignores or refuses it.
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import suppress
from functools import partial

from ci.core.model import SqlFile
from ci.core.sqltext import Statement
from ci.db.connection import is_environmental
from ci.db.outcomes import MigrationFailed
from ci.db.session import Session
from ci.db.tables import quoted

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:
    from ci.db.gatekeeper import Screen

# ci.db.gatekeeper is imported where a statement is screened, not at the top: a run with nothing
# pending imports this module and must load none of the gate's modules (ci.db.connection)


def run_file(session: Session, file: SqlFile, *, rollback: bool = False) -> int:
    """Execute a file's statements in the current transaction (or autocommit); rows changed.

    Connection settings the file changed (RESTORED_PRAGMAS) are set back afterwards, and
    the temporary objects it created are dropped, also when a statement failed: they must
    not leak into the runner's bookkeeping or the next migration."""
    gate = session.gate
    if gate.temp_kept is None:  # once per connection: a --setup's temporary objects stay
        gate.temp_kept = frozenset(temp_objects(session.conn))
    gate.temp_created = False
    try:
        rows = _run_statements(session, file, rollback=rollback)
    except BaseException:
        if gate.temp_created:
            with suppress(sqlite3.Error):  # the migration's own error is the one to report
                _drop_temp_objects(session)
        raise
    if gate.temp_created:  # SQLite's authorizer said so: the common case lists nothing
        _drop_temp_objects(session)
    return rows


def _run_statements(session: Session, file: SqlFile, *, rollback: bool) -> int:
    conn = session.conn
    before = conn.total_changes
    gate = session.gate
    # the file's screen (its savepoints, the pragmas to set back), made at its first screened
    # statement: most files have none
    screen: Screen | None = None
    gate.look_for_triggers()  # a trigger writing the runner's tables: every statement screened
    # the schema watch (ci.db.schema_watch), told about these statements, not the runner's own
    watch = gate.statements_watch
    if watch is not None:
        watch.__enter__()
    try:
        for statement in file.statements:
            word = leading_word(statement)
            if gate.screens(word, statement.raw):
                if screen is None:
                    no_transaction = file.directives.no_transaction
                    screen = gate.new_screen(no_transaction=no_transaction, rollback=rollback)
                _screened(session, file, statement, word, screen)
            elif word == "CREATE":  # it may create a temporary object (Gate.temp_created)
                gate.creating(partial(execute_statement, session, file, statement, None))
            else:  # the common case: no authorizer call at all
                execute_statement(session, file, statement, None)
    except BaseException as error:
        if watch is not None:
            watch.__exit__(type(error), error, None)
            watch = None
        raise
    finally:
        if watch is not None:
            watch.__exit__(None, None, None)
        if screen is not None and screen.saved:
            gate.restore(screen)
    return conn.total_changes - before


def execute_statement(
    session: Session, file: SqlFile, statement: Statement, params: dict[str, int] | None
) -> sqlite3.Cursor:
    """One of the user's statements, under the migration's deadline; a failure names its line."""
    conn = session.conn
    clock = session.clock
    clock.deadline = clock.migration_deadline  # armed (Clock.arm, without a call per statement)
    try:
        if params is None:
            return conn.execute(statement.sql)
        if session.gate.screens(leading_word(statement), statement.raw):
            return _screened_batch(session, file, statement, params)
        return conn.execute(statement.sql, params)
    except sqlite3.Error as error:
        if is_environmental(error):
            session.stopped_at = statement  # a @no-transaction migration names it
            raise
        if str(error) == "interrupted":
            clock.raise_interrupted(file.path, statement.line)
        raise MigrationFailed(file.path, statement.line, describe(error, statement)) from None
    finally:
        clock.deadline = math.inf  # disarmed


def _screened(
    session: Session, file: SqlFile, statement: Statement, word: str, screen: Screen
) -> None:
    """Run a statement that may be transaction control, a PRAGMA, an ATTACH or a change to
    the runner's own tables, as the gatekeeper decides from what SQLite says it is: run,
    ignored with a notice, or refused (the migration fails)."""
    screen.word = word
    screen.leading = word == "PRAGMA" and any(s is statement for s, _ in leading_pragmas(file))
    conn = session.conn
    try:
        verdict = session.gate.run(screen, statement.sql, lambda: conn.execute(statement.sql))
    except sqlite3.Error as error:
        if is_environmental(error):
            raise
        raise MigrationFailed(file.path, statement.line, describe(error, statement)) from None
    if verdict is None:
        return
    from ci.db.gatekeeper import REFUSE

    if verdict.kind == REFUSE:
        raise MigrationFailed(file.path, statement.line, verdict.message)
    if verdict.message:
        session.notice(f"{file.location}:{statement.line}: notice: {verdict.message}")


def _screened_batch(
    session: Session, file: SqlFile, statement: Statement, params: dict[str, int]
) -> sqlite3.Cursor:
    """A @batch statement the gatekeeper must see (it names the runner's tables, or a
    trigger may write them): anything but running it fails the migration."""
    ran: list[sqlite3.Cursor] = []
    gate = session.gate
    verdict = gate.run(
        gate.new_screen(),
        statement.sql,
        lambda: ran.append(session.conn.execute(statement.sql, params)),
    )
    if verdict is not None:
        raise MigrationFailed(file.path, statement.line, verdict.message or "not run")
    return ran[0]


def describe(error: sqlite3.Error, statement: Statement) -> str:
    """The message for a failing statement (SQLite's own, made clearer where it is cryptic)."""
    text = str(error)
    if text.startswith("too many attached databases - max 0") or (
        text == "not authorized" and statement.keyword == "ATTACH"
    ):
        # VACUUM INTO attaches its target internally, so the same limit refuses it
        what = "VACUUM INTO" if statement.keyword == "VACUUM" else "ATTACH"
        return (
            f"{what} is not allowed in a check: the check works on a throwaway database in a "
            "temporary directory and must not create or change files outside it "
            f"(SQLite: {text})"
        )
    return text


# --- temporary objects -----------------------------------------------------------------------


def temp_objects(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(type, name) of every object in the temp schema, triggers first, tables last: the
    order they can be dropped in (dropping a table also drops its indexes and triggers)."""
    rows = conn.execute(
        "SELECT type, name FROM sqlite_temp_master "
        "WHERE type IN ('trigger', 'view', 'index', 'table') ORDER BY "
        "CASE type WHEN 'trigger' THEN 0 WHEN 'view' THEN 1 WHEN 'index' THEN 2 ELSE 3 END"
    ).fetchall()
    return [(str(kind), str(name)) for kind, name in rows]


def _drop_temp_objects(session: Session) -> None:
    """Drop the temporary tables, views, triggers and indexes the migration made.

    Each migration would run on a fresh connection if run on its own; in one run they share
    this one, and a temp table left behind would shadow the main table of the same name in the
    next migration (its UPDATE would change the copy), a temp trigger would fire in it. Objects
    that existed before the first migration (a --setup's) are left alone. Inside the
    migration's transaction the drops are part of it (SQLite's temp schema is transactional),
    so they commit or roll back with it."""
    gate = session.gate
    gate.temp_created = False
    kept = gate.temp_kept or frozenset()
    for kind, name in temp_objects(session.conn):
        if (kind, name) not in kept and not name.startswith("sqlite_"):
            session.conn.execute(f"DROP {kind.upper()} IF EXISTS temp.{quoted(name)}")


# --- what a statement is ---------------------------------------------------------------------


def first_word(statement: Statement) -> str:
    """The statement's first word in upper case, after leading comments ('' if none): the
    same as `Statement.keyword`, without stripping the comments of the whole statement."""
    from ci.db.gatekeeper import FIRST_WORD

    match = FIRST_WORD.match(statement.raw)
    return match[1].upper() if match else ""


def leading_word(statement: Statement) -> str:
    """first_word, from the keyword the split already found when that is a plain word (the
    same word then; they differ only where quotes or comments touch the first word)."""
    word = statement.keyword
    return word if word.isalpha() else first_word(statement)


def leading_pragmas(file: SqlFile) -> list[tuple[Statement, bool]]:
    """The PRAGMA foreign_keys = X statements before the first other statement of the file,
    with the setting each asks for (SQLite says what each is: any spelling, quoting, case)."""
    from ci.db.gatekeeper import foreign_keys_setting

    leading: list[tuple[Statement, bool]] = []
    for statement in file.statements:
        word = leading_word(statement)
        setting = foreign_keys_setting(word, statement.raw, statement.sql)
        if setting is None:
            break
        leading.append((statement, setting))
    return leading


def leading_foreign_keys(file: SqlFile) -> bool | None:
    """The foreign_keys setting the file asks for at its top (None: leave it as it is)."""
    leading = leading_pragmas(file)
    return leading[-1][1] if leading else None
