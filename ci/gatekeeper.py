"""What the runner ignores, refuses or allows in a migration file, decided from what SQLite itself
says a statement is: the one place for it (the runner, the checks and lint MG508 ask here).

SQLite's authorizer reports, while a statement is prepared, every transaction statement
(SQLITE_TRANSACTION 'BEGIN'/'COMMIT'/'ROLLBACK'), savepoint statement (SQLITE_SAVEPOINT
'BEGIN'/'RELEASE'/'ROLLBACK' and the name), PRAGMA (its name and argument), ATTACH and
every table written, whatever the statement's spelling, case or comments. A text pattern cannot
promise that (`COMMIT TRANSACTION tx` once slipped past one and committed half a migration).
Refusing in the authorizer also stops a pragma whose effect happens while it is prepared
(`EXPLAIN PRAGMA writable_schema = 1` sets the flag without running).

Only statements that can be one of these are screened (`needs_screening`, decided from the first
word and, for writes, a word the statement must contain); the others run with no authorizer
call at all: the runner's per-migration path is performance-budgeted.

Each connection opened by `ci.runner.connect` has one `Gate`, the only authorizer it ever has:
the fingerprint tracker watches through it (`Gate.observing`) and an authorizer installed by a
`--setup` function is kept and asked after the gate's own rules (never silently replaced).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

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
# (a table is written only by naming it: schema_version, or SQLite's schema table, whose every
# spelling starts with sqlite_); a trigger that writes it is not the file's own statement.
_BOTH = re.compile(r"schema_version|sqlite_", re.IGNORECASE)
_SCHEMA_TABLE = re.compile(r"sqlite_", re.IGNORECASE)
WRITING = {
    "INSERT": _BOTH,
    "REPLACE": _BOTH,
    "WITH": _BOTH,
    "UPDATE": _SCHEMA_TABLE,
    "DELETE": _SCHEMA_TABLE,
}
FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(\w+)", re.DOTALL)
SCHEMA_TABLES = frozenset(("sqlite_master", "sqlite_schema"))
ON_VALUES = frozenset(("ON", "1", "TRUE", "YES"))

# The pragmas a migration may run in a check (deny by default). The checks run on a throwaway
# database in a temporary directory: a pragma that writes elsewhere, edits the schema table
# behind SQLite's back or changes how the throwaway database is stored would make the check's
# verdict differ from production, or leave files behind. Value: may it be given an argument
# that changes something ("set"), or only be read ("read")?  Listed in the README.
CHECK_PRAGMAS: dict[str, str] = {
    # what migrations themselves use: keys, the table-rebuild procedure, introspection
    "foreign_keys": "set",  # the runner honours it at the top of a file (ignored elsewhere)
    "foreign_key_check": "set",
    "foreign_key_list": "set",
    "defer_foreign_keys": "set",
    "legacy_alter_table": "set",
    "recursive_triggers": "set",
    "case_sensitive_like": "set",
    "ignore_check_constraints": "set",
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
RULES_DOC = "see 'Pragmas in the checks' in the README"


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
    (the savepoints it opened)."""

    __slots__ = ("check", "leading", "no_transaction", "pending", "savepoints", "word")

    def __init__(self, *, check: bool, no_transaction: bool) -> None:
        self.check = check  # a check's throwaway database: the stricter rules below
        self.no_transaction = no_transaction
        self.leading = False  # the statement is one of the file's leading PRAGMA foreign_keys
        self.word = ""  # the statement's first word, as written (END for a COMMIT)
        self.savepoints: list[str] = []  # opened by this file and not yet released
        self.pending: Action | None = None  # the savepoint statement being run

    def decide(self, action: int, arg1: str | None, arg2: str | None) -> Verdict | None:
        """The verdict on one authorizer report (None: allowed)."""
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
    if not screen.check:
        return None
    allowed = CHECK_PRAGMAS.get(pragma)
    if allowed == "set" or (allowed == "read" and value is None):
        return None
    shown = f"PRAGMA {pragma}" + (f" = {value}" if value is not None else "")
    because = REFUSED_BECAUSE.get(pragma, "it is not on the checks' list of allowed pragmas")
    return Verdict(REFUSE, f"{shown} is not allowed in a check: {because} ({RULES_DOC})")


def _attach(screen: Screen, _: str | None, __: str | None) -> Verdict | None:
    if not screen.check:
        return None
    what = "VACUUM INTO" if screen.word == "VACUUM" else "ATTACH"  # it attaches its target
    return Verdict(
        REFUSE,
        f"{what} is not allowed in a check: the check works on a throwaway database in a "
        "temporary directory and must not create or change files outside it",
    )


def _write(screen: Screen, table: str | None, _: str | None) -> Verdict | None:
    name = (table or "").lower()
    if name == "schema_version":
        return None  # only an INSERT is ignored (see _insert); others are the user's business
    if screen.check and name in SCHEMA_TABLES:
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
    return _write(screen, table, arg2)


RULES: dict[int, Callable[[Screen, str | None, str | None], Verdict | None]] = {
    TRANSACTION: _transaction,
    SAVEPOINT: _savepoint,
    PRAGMA: _pragma,
    ATTACH: _attach,  # (DETACH can only undo an ATTACH)
    sqlite3.SQLITE_INSERT: _insert,
    sqlite3.SQLITE_UPDATE: _write,
    sqlite3.SQLITE_DELETE: _write,
}


def needs_screening(word: str, raw: str) -> bool:
    """Whether a statement with this first word (upper case) can meet a rule above."""
    if word in SCREENED:
        return True
    names = WRITING.get(word)
    return names is not None and names.search(raw) is not None


# --- the one authorizer of a connection ----------------------------------------------------


class Gate:
    """The authorizer of one connection: screens the statement being run (if any), tells the
    observer (the fingerprint tracker) about every action, and asks the user's own authorizer
    (from --setup) about what the rules allow."""

    __slots__ = ("check", "conn", "observer", "screen", "user", "verdict")

    def __init__(self, conn: sqlite3.Connection, *, check: bool) -> None:
        self.conn = conn
        self.check = check  # a check's throwaway database (connect(durable=False))
        self.user: Authorizer | None = None
        self.observer: Authorizer | None = None
        self.screen: Screen | None = None
        self.verdict: Verdict | None = None

    def new_screen(self, *, no_transaction: bool = False) -> Screen:
        return Screen(check=self.check, no_transaction=no_transaction)

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if self.observer is not None:
            self.observer(action, arg1, arg2, db, trigger)
        screen = self.screen
        if screen is not None and trigger is None:
            verdict = screen.decide(action, arg1, arg2)
            if verdict is not None:
                self.verdict = verdict
                return sqlite3.SQLITE_DENY
        if self.user is not None:
            return self.user(action, arg1, arg2, db, trigger)
        return sqlite3.SQLITE_OK

    def run(self, screen: Screen, execute: Callable[[], object]) -> Verdict | None:
        """`execute()` with `screen`'s rules: None when it ran, else the verdict (it did not).

        The authorizer is set again even if it is already ours: that expires every prepared
        statement, so a cached one (the runner's own `COMMIT`) is prepared, and screened, anew.
        """
        self.screen, self.verdict = screen, None
        _set_authorizer(self.conn, self.authorize)
        try:
            execute()
        except sqlite3.DatabaseError:
            if self.verdict is None:
                raise
            screen.pending = None
            return self.verdict
        finally:
            self.screen = None
            self._install()
        screen.ran()
        return None

    def execute(self, screen: Screen, word: str, raw: str, sql: str) -> str | None:
        """Run one statement of user SQL (first word `word`) under `screen`'s rules: None when
        it ran or was ignored, else why it was refused. SQLite errors propagate."""
        if not needs_screening(word, raw):
            self.conn.execute(sql)
            return None
        screen.word = word
        verdict = self.run(screen, lambda: self.conn.execute(sql))
        return verdict.message if verdict is not None and verdict.kind == REFUSE else None

    def query(self, sql: str) -> sqlite3.Cursor:
        """`conn.execute(sql)` for a query of the user's (an invariant) under the rules of a
        migration's statement; one they would not run raises sqlite3.DatabaseError saying why."""
        match = FIRST_WORD.match(sql)
        if not needs_screening(match[1].upper() if match else "", sql):
            return self.conn.execute(sql)
        ran: list[sqlite3.Cursor] = []
        verdict = self.run(self.new_screen(), lambda: ran.append(self.conn.execute(sql)))
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


def _set_authorizer(conn: sqlite3.Connection, authorizer: Authorizer | None) -> None:
    sqlite3.Connection.set_authorizer(conn, authorizer)


class GatedConnection(sqlite3.Connection):
    """A connection whose authorizer is its Gate: `set_authorizer` (a --setup function's) is
    kept and asked after the gate's rules instead of replacing them."""

    gate: Gate

    def set_authorizer(self, authorizer_callback: Any) -> None:
        self.gate.keep_user_authorizer(authorizer_callback)


def gate_of(conn: sqlite3.Connection) -> Gate:
    """The connection's gate (a connection not opened by ci.runner.connect gets a new one, with
    the rules of a real run: such a connection is never a check's)."""
    gate = getattr(conn, "gate", None)
    return gate if isinstance(gate, Gate) else Gate(conn, check=False)


# --- classifying without a database (lint, the file's leading pragmas) -----------------------


@lru_cache(maxsize=4096)
def classify(sql: str) -> Action | None:
    """The first action SQLite reports for `sql` (prepared, never run, on a private in-memory
    database), or None when it reports none (a syntax error, or a name it cannot resolve).

    Enough to tell a transaction, savepoint or PRAGMA statement apart: they name no table, so
    they always prepare, and the report comes before anything else happens."""
    seen: list[Action] = []

    def record(action: int, arg1: str | None, arg2: str | None, *_: str | None) -> int:
        if not seen:
            seen.append((action, arg1, arg2))
        return sqlite3.SQLITE_DENY

    conn = _scratch()
    sqlite3.Connection.set_authorizer(conn, record)
    try:
        conn.execute(sql)
    except (sqlite3.Error, sqlite3.Warning):
        pass
    finally:
        sqlite3.Connection.set_authorizer(conn, None)
    return seen[0] if seen else None


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
