"""The gatekeeper's protection of the runner's own tables (schema_version, schema_version_log):
a migration may not write, alter, drop, shadow, index or trigger on them, directly or through a
trigger it fires; a plain `INSERT INTO schema_version` (and a rollback file's `DELETE FROM
schema_version`) is ignored with a notice. Also the other writes the rules decide (SQLite's schema
table in a check, ci.db.gate_pragmas).
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import suppress

from ci.db.gate_pragmas import schema_table_write
from ci.db.gate_screen import IGNORE, REFUSE, ScreenState, Verdict

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:  # for the type checker only: building the alias costs start-up time
    from collections.abc import Callable
    from typing import TypeAlias

    Rule: TypeAlias = Callable[[ScreenState, str | None, str | None], Verdict | None]

BOOKKEEPING_TABLES = frozenset(("schema_version", "schema_version_log"))
# Any statement naming the runner's tables, whatever its first word (SQLite has no escapes in
# names: the text holds the name).
BOOKKEEPING_NAME = re.compile(r"schema_version", re.IGNORECASE)
# Does a trigger in the database (main or temp) name the runner's tables? Then any statement may
# fire one that writes them, and every statement is screened.
BOOKKEEPING_TRIGGERS = (
    "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%schema_version%' "
    "UNION ALL SELECT 1 FROM sqlite_temp_master WHERE type = 'trigger' "
    "AND sql LIKE '%schema_version%' LIMIT 1"
)


def bookkeeping_refused(table: str, what: str) -> Verdict:
    """A migration's statement that would change the runner's table `table`: `what` it does."""
    return Verdict(
        REFUSE,
        f"migrations must not change the runner's bookkeeping table {table}: {what} (the "
        "runner alone records which migrations ran)",
    )


WRITES = {
    sqlite3.SQLITE_INSERT: "inserts into it",
    sqlite3.SQLITE_UPDATE: "updates it",
    sqlite3.SQLITE_DELETE: "deletes from it",
}


def trigger_write(action: int, table: str | None, trigger: str) -> Verdict | None:
    """An action of a trigger's program, compiled into the statement that fires it."""
    what = WRITES.get(action)
    name = (table or "").lower()
    if what is None or name not in BOOKKEEPING_TABLES:
        return None
    return bookkeeping_refused(name, f"trigger {trigger}, which this statement fires, {what}")


def trigger_program_verdict(conn: sqlite3.Connection, name: str, table: str) -> Verdict | None:
    """Whether trigger `name`, just created on `table`, has a program that writes the runner's
    tables: compiled (EXPLAIN, nothing runs) by an INSERT, an UPDATE of every column and a
    DELETE on its table. Leaves its own authorizer installed: the caller installs its own again."""
    found: list[Verdict] = []

    def authorize(action: int, arg1: str | None, _: str | None, *rest: str | None) -> int:
        trigger = rest[1] if len(rest) > 1 else None
        verdict = None if trigger is None else trigger_write(action, arg1, trigger)
        if verdict is None:
            return sqlite3.SQLITE_OK
        found.append(verdict)
        return sqlite3.SQLITE_DENY

    quoted = quote(table)
    settable = [
        quote(str(row[1]))
        for row in conn.execute(f"PRAGMA table_xinfo({quoted})")
        if not row[6]  # a generated or hidden column cannot be set
    ]
    probes = [f"EXPLAIN INSERT INTO {quoted} DEFAULT VALUES", f"EXPLAIN DELETE FROM {quoted}"]
    if settable:
        assignments = ", ".join(f"{column} = {column}" for column in settable)
        probes.append(f"EXPLAIN UPDATE {quoted} SET {assignments}")
    sqlite3.Connection.set_authorizer(conn, authorize)
    for probe in probes:
        # an error: not this kind of trigger (e.g. a view without INSTEAD OF INSERT)
        with suppress(sqlite3.DatabaseError):
            conn.execute(probe)
        if found:
            what = found[0].message.replace("which this statement fires, ", "")
            return Verdict(REFUSE, f"{what} (trigger {name} is created here)")
    return None


def refused_trigger(
    conn: sqlite3.Connection, created: list[tuple[str, str, str]], reinstall: Callable[[], None]
) -> Verdict | None:
    """A trigger the statement just created (`created`: schema, name, table of each) whose
    program writes the runner's tables is refused now, not only when it fires (see
    trigger_program_verdict; `reinstall` puts the gate's authorizer back after each probe). In
    autocommit (a @no-transaction file) the statement is already committed: the trigger is
    dropped."""
    for schema, name, table in created:
        try:
            verdict = trigger_program_verdict(conn, name, table)
        finally:
            reinstall()  # the probe installed its own authorizer
        if verdict is not None:
            if not conn.in_transaction:
                conn.execute(f"DROP TRIGGER IF EXISTS {quote(schema)}.{quote(name)}")
            return verdict
    return None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write(screen: ScreenState, table: str | None, _: str | None, action: int) -> Verdict | None:
    name = (table or "").lower()
    if name in BOOKKEEPING_TABLES:
        return bookkeeping_refused(name, f"this statement {WRITES[action]}")
    return schema_table_write(screen, name)


def _insert(screen: ScreenState, table: str | None, arg2: str | None) -> Verdict | None:
    if (table or "").lower() == "schema_version":
        return Verdict(
            IGNORE, "INSERT INTO schema_version ignored; the runner records the migration itself"
        )
    return _write(screen, table, arg2, sqlite3.SQLITE_INSERT)


def _update(screen: ScreenState, table: str | None, column: str | None) -> Verdict | None:
    return _write(screen, table, column, sqlite3.SQLITE_UPDATE)


def _delete(screen: ScreenState, table: str | None, arg2: str | None) -> Verdict | None:
    # a rollback file that deletes its migration's row (the habit of hand-written runners) is
    # the mirror of a migration's INSERT INTO schema_version: ignored, the runner removes it
    if screen.rollback and (table or "").lower() == "schema_version":
        return Verdict(
            IGNORE,
            "DELETE FROM schema_version ignored; the runner removes the rolled-back migration's "
            "row itself",
        )
    return _write(screen, table, arg2, sqlite3.SQLITE_DELETE)


def _named(what: str) -> Rule:
    """A rule for an action whose first argument is the runner's table itself."""

    def rule(_: ScreenState, table: str | None, __: str | None) -> Verdict | None:
        name = (table or "").lower()
        if name not in BOOKKEEPING_TABLES:
            return None
        return bookkeeping_refused(name, f"this statement {what}")

    return rule


def _on(what: str) -> Rule:
    """A rule for an action on an object (arg1) of a table (arg2): an index or a trigger."""

    def rule(_: ScreenState, thing: str | None, table: str | None) -> Verdict | None:
        name = (table or "").lower()
        if name not in BOOKKEEPING_TABLES:
            return None
        return bookkeeping_refused(name, f"this statement {what} {thing} on it")

    return rule


def _alter(_: ScreenState, __: str | None, table: str | None) -> Verdict | None:
    name = (table or "").lower()  # SQLITE_ALTER_TABLE: (database, table)
    if name not in BOOKKEEPING_TABLES:
        return None
    return bookkeeping_refused(name, "this statement alters it")


SHADOWS = (
    "creates a temporary object of that name, which would hide the runner's own table from "
    "every unqualified statement on this connection"
)

# The rules on writes and on the runner's tables' shape, their indexes and triggers, and names.
BOOKKEEPING_RULES: dict[int, Rule] = {
    sqlite3.SQLITE_INSERT: _insert,
    sqlite3.SQLITE_UPDATE: _update,
    sqlite3.SQLITE_DELETE: _delete,
    sqlite3.SQLITE_DROP_TABLE: _named("drops it"),
    sqlite3.SQLITE_DROP_TEMP_TABLE: _named("drops it"),
    sqlite3.SQLITE_ALTER_TABLE: _alter,
    sqlite3.SQLITE_CREATE_TABLE: _named("creates a table of that name"),
    sqlite3.SQLITE_CREATE_VIEW: _named("creates a view of that name"),
    sqlite3.SQLITE_CREATE_TEMP_TABLE: _named(SHADOWS),
    sqlite3.SQLITE_CREATE_TEMP_VIEW: _named(SHADOWS),
    sqlite3.SQLITE_CREATE_VTABLE: _named("creates a virtual table of that name"),
    sqlite3.SQLITE_CREATE_INDEX: _on("creates index"),
    sqlite3.SQLITE_CREATE_TEMP_INDEX: _on("creates index"),
    sqlite3.SQLITE_DROP_INDEX: _on("drops index"),
    sqlite3.SQLITE_DROP_TEMP_INDEX: _on("drops index"),
    sqlite3.SQLITE_CREATE_TRIGGER: _on("creates trigger"),
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: _on("creates trigger"),
    sqlite3.SQLITE_DROP_TRIGGER: _on("drops trigger"),
    sqlite3.SQLITE_DROP_TEMP_TRIGGER: _on("drops trigger"),
}


def names_bookkeeping(raw: str) -> bool:
    """Whether the statement's text names the runner's tables (it may create a trigger that
    writes them: every statement after it is screened)."""
    # ASCII text (nearly every statement): `in raw.lower()` answers as the case-blind regex
    # does, at a tenth of its cost; the regex also matches dotless i, dotted I and long s
    if raw.isascii():
        return "schema_version" in raw.lower()
    return BOOKKEEPING_NAME.search(raw) is not None
