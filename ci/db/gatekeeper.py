"""What the runner ignores, refuses or allows in a migration file, decided from what SQLite itself
says a statement is: the one place for it (the runner, the checks and lint MG508 ask here).

SQLite's authorizer reports, while a statement is prepared, every transaction statement
(SQLITE_TRANSACTION 'BEGIN'/'COMMIT'/'ROLLBACK'), savepoint statement (SQLITE_SAVEPOINT
'BEGIN'/'RELEASE'/'ROLLBACK' and the name), PRAGMA (its name and argument), ATTACH and
every table written, whatever the statement's spelling, case or comments. A text pattern cannot
promise that (`COMMIT TRANSACTION tx` once slipped past one and committed half a migration).
Refusing in the authorizer also stops a pragma whose effect happens while it is prepared
(`EXPLAIN PRAGMA writable_schema = 1` sets the flag without running).

A verdict is only ever given on a statement that SQLite prepares as exactly that statement: the
authorizer reports `BEGIN` as soon as SQLite has read `BEGIN TRANSACTION`, even when what follows
(`BEGIN TRANSACTION⏎CREATE TABLE t (...)`, a lost `;`) makes the whole a syntax error. So a
statement the rules would ignore or refuse is prepared again (`EXPLAIN`, never run) with those
actions ignored; if that fails, SQLite's own error is raised instead of any verdict.

The runner's own tables (schema_version, schema_version_log) are the runner's: a migration may not
write, alter, drop, shadow (a temporary table of that name), index or trigger on them; the one
exception is a plain `INSERT INTO schema_version` in the file (and, in a rollback file, a
`DELETE FROM schema_version`), ignored with a notice. Writes done
by a trigger the statement fires are reported with the trigger's name and refused too.

Pragmas that weaken the database's integrity for every later statement (ignore_check_constraints,
writable_schema) are refused in every run; connection settings a migration may change for itself
(`RESTORED_PRAGMAS`) are read before it changes them and set back after the migration.

Only statements that can be one of these are screened (`needs_screening`, decided from the first
word and, for writes, a word the statement must contain, or any statement while a trigger in the
database names schema_version); the others run with no authorizer call at all: the runner's
per-migration path is performance-budgeted.

Each connection opened by `ci.db.runner.connect` has one `Gate`, the only authorizer it ever has:
the fingerprint tracker watches through it (`Gate.observing`) and an authorizer installed by a
`--setup` function is kept and asked after the gate's own rules (never silently replaced).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ci.core.sqltext import strip_comments

if TYPE_CHECKING:  # aliases for the type checker only: building them costs start-up time
    from typing import TypeAlias

    Authorizer: TypeAlias = Callable[[int, str | None, str | None, str | None, str | None], int]
    Action: TypeAlias = tuple[int, str | None, str | None]  # (action code, argument, argument)

IGNORE = "ignore"  # not run; the runner prints the message as a notice
REFUSE = "refuse"  # not run; the migration fails with the message

TRANSACTION = sqlite3.SQLITE_TRANSACTION
SAVEPOINT = sqlite3.SQLITE_SAVEPOINT
PRAGMA = sqlite3.SQLITE_PRAGMA
ATTACH = sqlite3.SQLITE_ATTACH

# First words of the only statements SQLite reports as a transaction, savepoint, PRAGMA or
# ATTACH (the grammar starts each with its keyword; EXPLAIN prepares the statement after it,
# VACUUM INTO attaches its target).
SCREENED = frozenset(
    ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "ATTACH")
) | {"EXPLAIN", "VACUUM"}
# Statements that can write a table: screened only if they contain a name the rules are about
# (a table is written only by naming it: SQLite's schema table, whose every spelling starts with
# sqlite_, or the runner's tables, below). A trigger's writes are the statement's too: while a
# trigger in the database names the runner's tables, every statement is screened (Gate.screens).
_SCHEMA_TABLE = re.compile(r"sqlite_", re.IGNORECASE)
WRITING = dict.fromkeys(("INSERT", "REPLACE", "WITH", "UPDATE", "DELETE"), _SCHEMA_TABLE)
# Any statement naming the runner's tables, whatever its first word (SQLite has no escapes in
# names: the text holds the name).
_BOOKKEEPING_NAME = re.compile(r"schema_version", re.IGNORECASE)
FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(\w+)", re.DOTALL)
SCHEMA_TABLES = frozenset(("sqlite_master", "sqlite_schema"))
DDL_WORDS = frozenset(("CREATE", "DROP", "ALTER"))
BOOKKEEPING_TABLES = frozenset(("schema_version", "schema_version_log"))
ON_VALUES = frozenset(("ON", "1", "TRUE", "YES"))
OFF_VALUES = frozenset(("OFF", "0", "FALSE", "NO"))
# Does a trigger in the database (main or temp) name the runner's tables? Then any statement may
# fire one that writes them, and every statement is screened.
BOOKKEEPING_TRIGGERS = (
    "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%schema_version%' "
    "UNION ALL SELECT 1 FROM sqlite_temp_master WHERE type = 'trigger' "
    "AND sql LIKE '%schema_version%' LIMIT 1"
)

# Pragmas refused in every run, whatever they are set to (other than off): each weakens the
# database for every later statement on the connection, the next migrations' included.
REFUSED_PRAGMAS = {
    "ignore_check_constraints": "it lets later statements, and the next migrations, write rows "
    "that break CHECK constraints",
    "writable_schema": "it edits SQLite's schema table directly; writing schema by hand on "
    "production is never a migration's job",
    "hard_heap_limit": "it can only ever lower the process's memory limit, so the runner could "
    "not set it back, and the next migrations would fail for lack of memory",
}
# Connection settings a migration may change for its own statements: the runner reads each one
# before the migration changes it and sets it back after the migration, failed or not, so that
# it does not leak into the next one. Value: what to set back when SQLite cannot read the
# setting (None: it can be read).
RESTORED_PRAGMAS: dict[str, str | None] = {
    "recursive_triggers": None,
    "legacy_alter_table": None,
    "case_sensitive_like": "OFF",  # write-only: set back to SQLite's default
    "query_only": None,
    "trusted_schema": None,
    "cell_size_check": None,
    "automatic_index": None,
    "reverse_unordered_selects": None,
    "defer_foreign_keys": None,
    "analysis_limit": None,
    "cache_size": None,
    "cache_spill": None,
    "busy_timeout": None,
    "secure_delete": None,
    "synchronous": None,
    "mmap_size": None,
    "threads": None,
    "full_column_names": None,
    "short_column_names": None,
    "count_changes": None,
    "empty_result_callbacks": None,
    "checkpoint_fullfsync": None,
    "fullfsync": None,
    "wal_autocheckpoint": None,
    "journal_size_limit": None,
    "locking_mode": None,
    "max_page_count": None,  # a lower limit would make the next migrations fail "full"
    "soft_heap_limit": None,  # for the whole process
    "read_uncommitted": None,
}
# Per-connection settings deliberately neither set back nor refused, and why.
UNRESTORED_PRAGMAS = {
    "temp_store": "it only decides where temporary data is kept (memory or a file), not what any "
    "statement does; SQLite cannot change it inside a transaction, where the runner would set "
    "it back",
}

# The pragmas a migration may run in a check (deny by default). The checks run on a throwaway
# database in a temporary directory: a pragma that writes elsewhere, edits the schema table
# behind SQLite's back or changes how the throwaway database is stored would make the check's
# verdict differ from production, or leave files behind. Value: may it be given an argument
# that changes something ("set"), or only be read ("read")?  Listed in docs/checks/apply.md.
CHECK_PRAGMAS: dict[str, str] = {
    # what migrations themselves use: keys, the table-rebuild procedure, introspection
    "foreign_keys": "set",  # the runner honours it at the top of a file (ignored elsewhere)
    "foreign_key_check": "set",
    "foreign_key_list": "set",
    "defer_foreign_keys": "set",
    "legacy_alter_table": "set",
    "recursive_triggers": "set",
    "case_sensitive_like": "set",
    "ignore_check_constraints": "read",  # setting it is refused in every run (REFUSED_PRAGMAS)
    "integrity_check": "set",
    "quick_check": "set",
    "table_info": "set",
    "table_xinfo": "set",
    "table_list": "set",
    "index_list": "set",
    "index_info": "set",
    "index_xinfo": "set",
    "user_version": "set",  # a field of the database header, migrated like the schema
    "application_id": "set",
    "optimize": "set",  # ANALYZE where useful: inside the database
    "analysis_limit": "set",
    "collation_list": "read",
    "function_list": "read",
    "module_list": "read",
    "pragma_list": "read",
    "database_list": "read",
    "compile_options": "read",
    "encoding": "read",
    "page_size": "read",
    "page_count": "read",
    "freelist_count": "read",
    "schema_version": "read",  # setting it corrupts the schema cache of other connections
    "journal_mode": "read",
    "synchronous": "read",
    "locking_mode": "read",
    "cache_size": "read",
    "auto_vacuum": "read",
    "busy_timeout": "read",
}
# Why the most dangerous pragmas are refused, in the finding (others get the generic reason).
REFUSED_BECAUSE = {
    "writable_schema": "it edits SQLite's schema table directly; a new connection may then "
    "find the database malformed, which the migrating connection does not notice",
    "temp_store_directory": "it makes SQLite write temporary files outside the check's "
    "temporary directory",
    "data_store_directory": "it makes SQLite write files outside the check's temporary directory",
}
RULES_DOC = "see 'Pragmas in the checks' in docs/checks/apply.md"


class Verdict:
    """What happens to a screened statement instead of running it: IGNORE or REFUSE."""

    __slots__ = ("kind", "message", "reason")

    def __init__(self, kind: str, message: str, reason: str = "") -> None:
        self.kind = kind
        self.message = message  # the notice, or why the migration fails
        self.reason = reason or message  # why, without naming the statement (for lint)

    def __repr__(self) -> str:
        return f"Verdict({self.kind!r}, {self.message!r})"


class Screen:
    """The rules for the statements of one migration file, and what its statements so far did
    (the savepoints it opened, the connection settings it changed)."""

    __slots__ = (
        "check",
        "created",
        "leading",
        "no_transaction",
        "pending",
        "rollback",
        "saved",
        "savepoints",
        "schema_writable",
        "sql",
        "word",
    )

    def __init__(self, *, check: bool, no_transaction: bool, rollback: bool = False) -> None:
        self.check = check  # a check's throwaway database: the stricter rules below
        self.no_transaction = no_transaction
        self.rollback = rollback  # a rollback file: its DELETE of its own row is ignored
        self.leading = False  # the statement is one of the file's leading PRAGMA foreign_keys
        self.word = ""  # the statement's first word, as written (END for a COMMIT)
        self.sql = ""  # the statement being decided
        self.schema_writable = False  # writable_schema was on when the statement started
        self.savepoints: list[str] = []  # opened by this file and not yet released
        self.pending: Action | None = None  # the savepoint statement being run
        self.saved: dict[str, object] = {}  # RESTORED_PRAGMAS changed: their values before
        self.created: list[tuple[str, str, str]] = []  # triggers (schema, name, table) created

    def decide(
        self, action: int, arg1: str | None, arg2: str | None, trigger: str | None = None
    ) -> Verdict | None:
        """The verdict on one authorizer report (None: allowed). `trigger`: the trigger whose
        program did it (only writes to the runner's tables are decided there)."""
        if trigger is not None:
            return _trigger_write(action, arg1, trigger)
        rule = RULES.get(action)
        return None if rule is None else rule(self, arg1, arg2)

    def ran(self) -> None:
        """The screened statement ran: a savepoint it opened or closed changes the stack."""
        if self.pending is None:
            return
        _, operation, name = self.pending
        self.pending = None
        folded = (name or "").lower()
        if operation == "BEGIN":
            self.savepoints.append(folded)
            return
        index = len(self.savepoints) - 1 - self.savepoints[::-1].index(folded)
        # RELEASE closes the savepoint and every one opened after it; ROLLBACK TO keeps it open
        del self.savepoints[index + (operation == "ROLLBACK") :]


# --- the rules, one per action code --------------------------------------------------------


def _transaction(screen: Screen, operation: str | None, _: str | None) -> Verdict:
    swallowed = _statement_taken_as_name(screen.sql)
    if swallowed is not None:
        return Verdict(REFUSE, swallowed)
    why = (
        "each statement of a @no-transaction migration commits on its own"
        if screen.no_transaction
        else "the runner runs each migration in its own transaction"
    )
    word = screen.word if screen.word in ("BEGIN", "COMMIT", "END", "ROLLBACK") else operation
    reason = (
        f"the runner ignores it: {why}"
        if screen.no_transaction
        else "the runner owns the transaction and ignores it"
    )
    return Verdict(IGNORE, f"{word} ignored; {why}", reason)


def _savepoint(screen: Screen, operation: str | None, name: str | None) -> Verdict | None:
    if screen.no_transaction:
        return Verdict(REFUSE, NO_TRANSACTION_SAVEPOINT)
    folded = (name or "").lower()
    if operation != "BEGIN" and folded not in screen.savepoints:
        word = "RELEASE" if operation == "RELEASE" else "ROLLBACK TO"
        return Verdict(
            REFUSE,
            f"{word} {name}: no savepoint of that name was opened earlier in this file; a "
            "migration may release or roll back to only its own savepoints (the runner's "
            "transaction is not the file's to end)",
        )
    screen.pending = (SAVEPOINT, operation, name)
    return None


# Words that start a statement and that SQLite also accepts as a transaction's name. After a
# lost `;` (`BEGIN TRANSACTION⏎ANALYZE;`) the next statement becomes the name of the transaction
# statement, which the runner ignores: the statement would vanish without a word.
STATEMENT_KEYWORDS = frozenset(
    (
        "ANALYZE", "ATTACH", "BEGIN", "COMMIT", "DETACH", "END", "EXPLAIN", "PRAGMA",
        "REINDEX", "RELEASE", "REPLACE", "ROLLBACK", "SAVEPOINT", "VACUUM", "WITH",
    )
)  # fmt: skip
_TRANSACTION_NAME = re.compile(
    r"\s*(BEGIN|COMMIT|END|ROLLBACK)(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?\s+TRANSACTION"
    r"\s+([A-Za-z_][A-Za-z_0-9$]*)\s*;?\s*\Z",
    re.IGNORECASE,
)


def _statement_taken_as_name(sql: str) -> str | None:
    """Why a transaction statement named after a statement keyword (unquoted) fails the
    migration, or None. A quoted name is written on purpose and stays an ordinary name."""
    match = _TRANSACTION_NAME.match(strip_comments(sql))
    if match is None or match[2].upper() not in STATEMENT_KEYWORDS:
        return None
    word, name = match[1].upper(), match[2].upper()
    return (
        f"`{word} TRANSACTION {name}` names its transaction {name}: a `;` is probably missing "
        f"after TRANSACTION (the {name} statement would not run)"
    )


NO_TRANSACTION_SAVEPOINT = (
    "a savepoint in a @no-transaction migration is refused: each statement there commits on "
    "its own, and a savepoint would open a transaction the runner does not own; remove "
    "@no-transaction to make the whole file atomic, or move the statements to their own "
    "migration"
)


def _pragma(screen: Screen, name: str | None, value: str | None) -> Verdict | None:
    pragma = (name or "").lower()
    if pragma == "foreign_keys" and value is not None:
        if screen.leading:
            return Verdict(IGNORE, "")  # honoured before the transaction (no notice)
        return Verdict(
            IGNORE,
            "PRAGMA foreign_keys has no effect inside a transaction; the runner restores "
            "foreign_keys after the migration",
        )
    shown = f"PRAGMA {pragma}" + (f" = {value}" if value is not None else "")
    if not screen.check:
        if pragma in REFUSED_PRAGMAS and value is not None and value.upper() not in OFF_VALUES:
            return Verdict(REFUSE, f"{shown} is refused: {REFUSED_PRAGMAS[pragma]} ({PRAGMAS_DOC})")
        return None
    # a check refuses these too: neither is on its list of pragmas that may be set
    allowed = CHECK_PRAGMAS.get(pragma)
    if allowed == "set" or (allowed == "read" and value is None):
        return None
    because = REFUSED_BECAUSE.get(pragma, "it is not on the checks' list of allowed pragmas")
    return Verdict(REFUSE, f"{shown} is not allowed in a check: {because} ({RULES_DOC})")


PRAGMAS_DOC = "see 'What the runner does with your SQL' in docs/runner.md"


def _attach(screen: Screen, _: str | None, __: str | None) -> Verdict | None:
    if not screen.check:
        return None
    what = "VACUUM INTO" if screen.word == "VACUUM" else "ATTACH"  # it attaches its target
    return Verdict(
        REFUSE,
        f"{what} is not allowed in a check: the check works on a throwaway database in a "
        "temporary directory and must not create or change files outside it",
    )


def bookkeeping_refused(table: str, what: str) -> Verdict:
    """A migration's statement that would change the runner's table `table`: `what` it does."""
    return Verdict(
        REFUSE,
        f"migrations must not change the runner's bookkeeping table {table}: {what} (the "
        "runner alone records which migrations ran)",
    )


_WRITES = {
    sqlite3.SQLITE_INSERT: "inserts into it",
    sqlite3.SQLITE_UPDATE: "updates it",
    sqlite3.SQLITE_DELETE: "deletes from it",
}


def _trigger_write(action: int, table: str | None, trigger: str) -> Verdict | None:
    """An action of a trigger's program, compiled into the statement that fires it."""
    what = _WRITES.get(action)
    name = (table or "").lower()
    if what is None or name not in BOOKKEEPING_TABLES:
        return None
    return bookkeeping_refused(name, f"trigger {trigger}, which this statement fires, {what}")


def _write(screen: Screen, table: str | None, _: str | None, action: int) -> Verdict | None:
    name = (table or "").lower()
    if name in BOOKKEEPING_TABLES:
        return bookkeeping_refused(name, f"this statement {_WRITES[action]}")
    # DDL writes the schema table too, and so does SQLite when a statement first uses a
    # table-valued function (`SELECT * FROM pragma_table_info('t')`): that is SQLite's own
    # bookkeeping, not the file's. The file can write the schema table only while
    # writable_schema is on (SQLite refuses it otherwise), so only then is a report one.
    if (
        screen.check
        and screen.schema_writable
        and name in SCHEMA_TABLES
        and screen.word not in DDL_WORDS
    ):
        return Verdict(
            REFUSE,
            f"writing {name} is not allowed in a check: " + REFUSED_BECAUSE["writable_schema"],
        )
    return None


def _insert(screen: Screen, table: str | None, arg2: str | None) -> Verdict | None:
    if (table or "").lower() == "schema_version":
        return Verdict(
            IGNORE, "INSERT INTO schema_version ignored; the runner records the migration itself"
        )
    return _write(screen, table, arg2, sqlite3.SQLITE_INSERT)


def _update(screen: Screen, table: str | None, column: str | None) -> Verdict | None:
    return _write(screen, table, column, sqlite3.SQLITE_UPDATE)


def _delete(screen: Screen, table: str | None, arg2: str | None) -> Verdict | None:
    # a rollback file that deletes its migration's row (the habit of hand-written runners) is
    # the mirror of a migration's INSERT INTO schema_version: ignored, the runner removes it
    if screen.rollback and (table or "").lower() == "schema_version":
        return Verdict(
            IGNORE,
            "DELETE FROM schema_version ignored; the runner removes the rolled-back migration's "
            "row itself",
        )
    return _write(screen, table, arg2, sqlite3.SQLITE_DELETE)


def _named(what: str) -> Callable[[Screen, str | None, str | None], Verdict | None]:
    """A rule for an action whose first argument is the runner's table itself."""

    def rule(_: Screen, table: str | None, __: str | None) -> Verdict | None:
        name = (table or "").lower()
        if name not in BOOKKEEPING_TABLES:
            return None
        return bookkeeping_refused(name, f"this statement {what}")

    return rule


def _on(what: str) -> Callable[[Screen, str | None, str | None], Verdict | None]:
    """A rule for an action on an object (arg1) of a table (arg2): an index or a trigger."""

    def rule(_: Screen, thing: str | None, table: str | None) -> Verdict | None:
        name = (table or "").lower()
        if name not in BOOKKEEPING_TABLES:
            return None
        return bookkeeping_refused(name, f"this statement {what} {thing} on it")

    return rule


def _alter(_: Screen, __: str | None, table: str | None) -> Verdict | None:
    name = (table or "").lower()  # SQLITE_ALTER_TABLE: (database, table)
    if name not in BOOKKEEPING_TABLES:
        return None
    return bookkeeping_refused(name, "this statement alters it")


SHADOWS = (
    "creates a temporary object of that name, which would hide the runner's own table from "
    "every unqualified statement on this connection"
)

RULES: dict[int, Callable[[Screen, str | None, str | None], Verdict | None]] = {
    TRANSACTION: _transaction,
    SAVEPOINT: _savepoint,
    PRAGMA: _pragma,
    ATTACH: _attach,  # (DETACH can only undo an ATTACH)
    sqlite3.SQLITE_INSERT: _insert,
    sqlite3.SQLITE_UPDATE: _update,
    sqlite3.SQLITE_DELETE: _delete,
    # the runner's own tables: their shape, their indexes and triggers, and their names
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
CREATES_TRIGGER = frozenset((sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_TRIGGER))
# What `prepares` ignores while proving that a statement prepares: every action a rule decides.
DECIDED = frozenset(RULES)


def needs_screening(word: str, raw: str, *, triggers: bool = False) -> bool:
    """Whether a statement with this first word (upper case) can meet a rule above; `triggers`:
    a trigger in the database names the runner's tables (any statement may fire it)."""
    if triggers or word in SCREENED or _BOOKKEEPING_NAME.search(raw) is not None:
        return True
    names = WRITING.get(word)
    return names is not None and names.search(raw) is not None


def names_bookkeeping(raw: str) -> bool:
    """Whether the statement's text names the runner's tables (it may create a trigger that
    writes them: every statement after it is screened)."""
    return _BOOKKEEPING_NAME.search(raw) is not None


# --- the one authorizer of a connection ----------------------------------------------------


class Gate:
    """The authorizer of one connection: screens the statement being run (if any), tells the
    observer (the fingerprint tracker) about every action, and asks the user's own authorizer
    (from --setup) about what the rules allow."""

    __slots__ = ("check", "conn", "observer", "screen", "triggers", "user", "verdict")

    def __init__(self, conn: sqlite3.Connection, *, check: bool) -> None:
        self.conn = conn
        self.check = check  # a check's throwaway database (connect(durable=False))
        self.user: Authorizer | None = None
        self.observer: Authorizer | None = None
        self.screen: Screen | None = None
        self.verdict: Verdict | None = None
        # a trigger in the database names the runner's tables (None: not looked yet)
        self.triggers: bool | None = None

    def new_screen(self, *, no_transaction: bool = False, rollback: bool = False) -> Screen:
        return Screen(check=self.check, no_transaction=no_transaction, rollback=rollback)

    def look_for_triggers(self) -> bool:
        """Whether a trigger in the database names the runner's tables (asked again each time:
        the database may have changed since)."""
        self.triggers = self.conn.execute(BOOKKEEPING_TRIGGERS).fetchone() is not None
        return self.triggers

    def screens(self, word: str, raw: str) -> bool:
        """needs_screening, knowing whether a trigger may write the runner's tables."""
        triggers = self.look_for_triggers() if self.triggers is None else self.triggers
        return needs_screening(word, raw, triggers=triggers)

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if self.observer is not None:
            self.observer(action, arg1, arg2, db, trigger)
        screen = self.screen
        if screen is not None:
            if action in CREATES_TRIGGER and trigger is None:
                schema = "temp" if action == sqlite3.SQLITE_CREATE_TEMP_TRIGGER else db
                screen.created.append((schema or "main", arg1 or "", arg2 or ""))
            verdict = screen.decide(action, arg1, arg2, trigger)
            if verdict is not None:
                if self.verdict is None or self.verdict.kind == IGNORE:
                    self.verdict = verdict  # a refusal wins over a notice
                return sqlite3.SQLITE_DENY
        if self.user is not None:
            return self.user(action, arg1, arg2, db, trigger)
        return sqlite3.SQLITE_OK

    def run(self, screen: Screen, sql: str, execute: Callable[[], object]) -> Verdict | None:
        """`execute()` (which runs `sql`) with `screen`'s rules: None when it ran, else the
        verdict (it did not). A statement SQLite does not prepare gets no verdict: its own
        error (a syntax error) is raised, whatever the authorizer saw before it.

        The authorizer is set again even if it is already ours: that expires every prepared
        statement, so a cached one (the runner's own `COMMIT`) is prepared, and screened, anew.
        """
        self._save_pragma(screen, sql)
        screen.created.clear()
        screen.sql = sql
        screen.schema_writable = screen.check and self._schema_writable()
        self.screen, self.verdict = screen, None
        _set_authorizer(self.conn, self.authorize)
        try:
            execute()
        except sqlite3.DatabaseError:
            verdict = self.verdict
            if verdict is None:
                raise
            screen.pending = None
            self.screen = None
            self.prepares(sql)  # raises SQLite's own error when the statement is not one
            return verdict
        finally:
            self.screen = None
            self._install()
        screen.ran()
        if names_bookkeeping(sql):
            self.triggers = True  # it may have created a trigger that writes them
            return self._refuse_trigger_writing_bookkeeping(screen)
        return None

    def _refuse_trigger_writing_bookkeeping(self, screen: Screen) -> Verdict | None:
        """A trigger the statement just created whose program writes the runner's tables is
        refused now, not only when it fires: its program is compiled (EXPLAIN, nothing runs)
        by an INSERT, an UPDATE of every column and a DELETE on its table. In autocommit (a
        @no-transaction file) the statement is already committed: the trigger is dropped."""
        created, screen.created = screen.created, []
        for schema, name, table in created:
            verdict = self._trigger_program_verdict(name, table)
            if verdict is not None:
                if not self.conn.in_transaction:
                    self.conn.execute(f"DROP TRIGGER IF EXISTS {_quote(schema)}.{_quote(name)}")
                return verdict
        return None

    def _trigger_program_verdict(self, name: str, table: str) -> Verdict | None:
        found: list[Verdict] = []

        def authorize(action: int, arg1: str | None, _: str | None, *rest: str | None) -> int:
            trigger = rest[1] if len(rest) > 1 else None
            verdict = None if trigger is None else _trigger_write(action, arg1, trigger)
            if verdict is None:
                return sqlite3.SQLITE_OK
            found.append(verdict)
            return sqlite3.SQLITE_DENY

        quoted = _quote(table)
        settable = [
            _quote(str(row[1]))
            for row in self.conn.execute(f"PRAGMA table_xinfo({quoted})")
            if not row[6]  # a generated or hidden column cannot be set
        ]
        probes = [f"EXPLAIN INSERT INTO {quoted} DEFAULT VALUES", f"EXPLAIN DELETE FROM {quoted}"]
        if settable:
            assignments = ", ".join(f"{column} = {column}" for column in settable)
            probes.append(f"EXPLAIN UPDATE {quoted} SET {assignments}")
        _set_authorizer(self.conn, authorize)
        try:
            for probe in probes:
                # an error: not this kind of trigger (e.g. a view without INSTEAD OF INSERT)
                with suppress(sqlite3.DatabaseError):
                    self.conn.execute(probe)
                if found:
                    what = found[0].message.replace("which this statement fires, ", "")
                    return Verdict(REFUSE, f"{what} (trigger {name} is created here)")
        finally:
            self._install()
        return None

    def _schema_writable(self) -> bool:
        """Whether writable_schema is on (a --setup may have turned it on), asked with no
        authorizer: the gate's own question is nobody else's business."""
        _set_authorizer(self.conn, None)
        try:
            row = self.conn.execute("PRAGMA writable_schema").fetchone()
        finally:
            self._install()
        return bool(row and row[0])

    def prepares(self, sql: str) -> None:
        """Prepare `sql` (EXPLAIN: nothing runs) with every action the rules decide ignored:
        raises SQLite's error when the statement does not prepare as one statement."""
        word = FIRST_WORD.match(sql)
        explained = sql if word is not None and word[1].upper() == "EXPLAIN" else f"EXPLAIN {sql}"
        _set_authorizer(self.conn, _ignore_decided)
        try:
            self.conn.execute(explained)
        finally:
            self._install()

    def _save_pragma(self, screen: Screen, sql: str) -> None:
        """Before a statement that sets one of RESTORED_PRAGMAS: its value now, once per file."""
        word = FIRST_WORD.match(sql)
        if word is None or word[1].upper() not in ("PRAGMA", "EXPLAIN"):
            return
        action = classify(sql)
        if action is None or action[0] != PRAGMA or action[2] is None:
            return
        name = (action[1] or "").lower()
        if name not in RESTORED_PRAGMAS or name in screen.saved:
            return
        default = RESTORED_PRAGMAS[name]
        if default is not None:
            screen.saved[name] = default
            return
        row = self.conn.execute(f"PRAGMA {name}").fetchone()
        if row is not None:
            screen.saved[name] = row[0]

    def restore(self, screen: Screen) -> None:
        """Set back the connection settings the file's statements changed (see _save_pragma)."""
        saved, screen.saved = screen.saved, {}
        for name, value in saved.items():
            self.conn.execute(f"PRAGMA {name} = {_pragma_value(value)}")

    def execute(self, screen: Screen, word: str, raw: str, sql: str) -> str | None:
        """Run one statement of user SQL (first word `word`) under `screen`'s rules: None when
        it ran or was ignored, else why it was refused. SQLite errors propagate."""
        if not self.screens(word, raw):
            self.conn.execute(sql)
            return None
        screen.word = word
        verdict = self.run(screen, sql, lambda: self.conn.execute(sql))
        return verdict.message if verdict is not None and verdict.kind == REFUSE else None

    def query(self, sql: str) -> sqlite3.Cursor:
        """`conn.execute(sql)` for a query of the user's (an invariant) under the rules of a
        migration's statement; one they would not run raises sqlite3.DatabaseError saying why."""
        match = FIRST_WORD.match(sql)
        if not self.screens(match[1].upper() if match else "", sql):
            return self.conn.execute(sql)
        ran: list[sqlite3.Cursor] = []
        screen = self.new_screen()
        try:
            verdict = self.run(screen, sql, lambda: ran.append(self.conn.execute(sql)))
        finally:
            self.restore(screen)
        if verdict is not None:
            raise sqlite3.DatabaseError(verdict.message or "ignored: it is not a query")
        return ran[0]

    @contextmanager
    def observing(self, observer: Authorizer) -> Iterator[None]:
        """Tell `observer` every action of every statement run inside the block."""
        self.observer = observer
        self._install()
        try:
            yield
        finally:
            self.observer = None
            self._install()

    def keep_user_authorizer(self, authorizer: Authorizer | None) -> None:
        """`conn.set_authorizer(f)` from a --setup function: asked after the gate's rules."""
        self.user = authorizer
        self._install()

    def _install(self) -> None:
        if self.observer is None and self.screen is None:
            _set_authorizer(self.conn, self.user)  # nothing of ours to ask: no callback cost
        else:
            _set_authorizer(self.conn, self.authorize)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ignore_decided(action: int, *_: str | None) -> int:
    """The authorizer of `Gate.prepares` and `classify`: what a rule decides is left out of the
    program (SQLite then goes on parsing), everything else is prepared as usual."""
    return sqlite3.SQLITE_IGNORE if action in DECIDED else sqlite3.SQLITE_OK


def _pragma_value(value: object) -> str:
    """A value read from a pragma, as its argument (numbers as they are, text quoted)."""
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _set_authorizer(conn: sqlite3.Connection, authorizer: Authorizer | None) -> None:
    sqlite3.Connection.set_authorizer(conn, authorizer)


class GatedConnection(sqlite3.Connection):
    """A connection whose authorizer is its Gate: `set_authorizer` (a --setup function's) is
    kept and asked after the gate's rules instead of replacing them."""

    gate: Gate

    def set_authorizer(self, authorizer_callback: Any) -> None:
        self.gate.keep_user_authorizer(authorizer_callback)


def gate_of(conn: sqlite3.Connection) -> Gate:
    """The connection's gate (a connection not opened by ci.db.runner.connect gets a new one, with
    the rules of a real run: such a connection is never a check's)."""
    gate = getattr(conn, "gate", None)
    return gate if isinstance(gate, Gate) else Gate(conn, check=False)


# --- classifying without a database (lint, the file's leading pragmas) -----------------------


@lru_cache(maxsize=4096)
def classify(sql: str) -> Action | None:
    """The first action SQLite reports for `sql` (prepared, never run, on a private in-memory
    database), or None when it reports none or the statement does not prepare (a syntax error,
    or a name it cannot resolve): `BEGIN TRANSACTION⏎CREATE TABLE t (x)` is no BEGIN.

    Enough to tell a transaction, savepoint or PRAGMA statement apart: they name no table, so
    they prepare there whenever they prepare at all."""
    seen: list[Action] = []
    try:
        prepare_error(sql, seen)
    except sqlite3.Error:
        return None
    return seen[0] if seen else None


def prepare_error(sql: str, seen: list[Action] | None = None) -> None:
    """Prepare `sql` (EXPLAIN, every decided action ignored) on the private database, noting
    the actions SQLite reports in `seen`; raises SQLite's error if it does not prepare."""
    record = seen if seen is not None else []

    def authorize(action: int, arg1: str | None, arg2: str | None, *_: str | None) -> int:
        record.append((action, arg1, arg2))
        return _ignore_decided(action)

    word = FIRST_WORD.match(sql)
    explained = sql if word is not None and word[1].upper() == "EXPLAIN" else f"EXPLAIN {sql}"
    conn = _scratch()
    sqlite3.Connection.set_authorizer(conn, authorize)
    try:
        conn.execute(explained)
    except sqlite3.Warning as warning:  # more than one statement: not one statement
        raise sqlite3.ProgrammingError(str(warning)) from None
    finally:
        sqlite3.Connection.set_authorizer(conn, None)


_SCRATCH: dict[int, sqlite3.Connection] = {}  # per process: never used across a fork


def _scratch() -> sqlite3.Connection:
    pid = os.getpid()
    conn = _SCRATCH.get(pid)
    if conn is None:
        _SCRATCH.clear()  # a parent's connection, inherited by fork: dropped, never used
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        setlimit = getattr(conn, "setlimit", None)
        if setlimit is not None:  # nothing prepared here may attach a file, even by mistake
            setlimit(getattr(sqlite3, "SQLITE_LIMIT_ATTACHED", 7), 0)
        _SCRATCH[pid] = conn
    return conn


def foreign_keys_setting(word: str, raw: str, sql: str) -> bool | None:
    """For `PRAGMA foreign_keys = X` (any spelling): whether it turns them on; else None."""
    if word != "PRAGMA" or "foreign_keys" not in raw.lower():
        return None  # cheap: a foreign_keys pragma names it (SQLite's names are not escaped)
    action = classify(sql)
    if action is None or action[0] != PRAGMA or (action[1] or "").lower() != "foreign_keys":
        return None
    if action[2] is None:
        return None  # reading it
    return action[2].upper() in ON_VALUES
