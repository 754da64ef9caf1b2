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
per-migration path is performance-budgeted. A plain VACUUM reports its own copying (ATTACH of
a temporary copy, BEGIN, CREATE, ...): none of it is the migration's (ci.db.gate_vacuum).

Each connection opened by `ci.db.runner.connect` has one `Gate`, the only authorizer it ever has:
the fingerprint tracker watches through it (`Gate.observing`) and an authorizer installed by a
`--setup` function is kept and asked after the gate's own rules (never silently replaced).

This module holds the `Gate`; the rules live beside it: ci.db.gate_screen (verdicts, a file's
state), ci.db.gate_rules (the rules table, what needs screening), ci.db.gate_pragmas (the pragma
policy), ci.db.gate_bookkeeping (the runner's own tables), ci.db.gate_classify (classifying a
statement without a database). Their public names are importable from here too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from ci.db.gate_bookkeeping import BOOKKEEPING_TRIGGERS, names_bookkeeping, refused_trigger
from ci.db.gate_classify import classify, foreign_keys_setting, ignore_decided, prepare_error
from ci.db.gate_pragmas import (
    CHECK_PRAGMAS,
    REFUSED_PRAGMAS,
    RESTORED_PRAGMAS,
    UNRESTORED_PRAGMAS,
)
from ci.db.gate_rules import CREATES_TRIGGER, NO_TRANSACTION_SAVEPOINT, Screen, needs_screening
from ci.db.gate_screen import (
    FIRST_WORD,
    IGNORE,
    PRAGMA,
    REFUSE,
    SAVEPOINT,
    TRANSACTION,
    Verdict,
)
from ci.db.gate_vacuum import vacuum_screened

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:
    from ci.db.gate_screen import Authorizer
    from ci.db.unapplied import Unapplied

# What SQLite's authorizer reports for every temporary object a statement creates, whatever the
# statement says: a trigger or index on a temporary table is temporary without the word TEMP, and
# an object named in the schema `temp` ("temp".t, [Temp].t) is reported as a plain CREATE in it.
CREATES_TEMP = frozenset((
    sqlite3.SQLITE_CREATE_TEMP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_INDEX,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
    sqlite3.SQLITE_CREATE_TEMP_VIEW,
))  # fmt: skip
CREATES = CREATES_TEMP | {
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_CREATE_VTABLE,
}

__all__ = [
    "CHECK_PRAGMAS",
    "FIRST_WORD",
    "IGNORE",
    "NO_TRANSACTION_SAVEPOINT",
    "REFUSE",
    "REFUSED_PRAGMAS",
    "RESTORED_PRAGMAS",
    "SAVEPOINT",
    "TRANSACTION",
    "UNRESTORED_PRAGMAS",
    "Gate",
    "Screen",
    "Verdict",
    "classify",
    "foreign_keys_setting",
    "gate_of",
    "needs_screening",
    "prepare_error",
]


class Gate:
    """The authorizer of one connection: screens the statement being run (if any), tells the
    observer (the fingerprint tracker) about every action, and asks the user's own authorizer
    (from --setup) about what the rules allow."""

    __slots__ = (
        "check", "conn", "looked_at", "observer", "screen", "statements_watch", "temp_created",
        "temp_kept", "triggers", "unapplied", "user", "verdict", "version_now",
    )  # fmt: skip

    def __init__(self, conn: sqlite3.Connection, *, check: bool) -> None:
        self.conn = conn
        self.check = check  # a check's throwaway database (connect(durable=False))
        self.user: Authorizer | None = None
        self.observer: Authorizer | None = None
        self.screen: Screen | None = None
        self.verdict: Verdict | None = None
        # a trigger in the database names the runner's tables (None: not looked yet)
        self.triggers: bool | None = None
        # PRAGMA data_version when `triggers` was last found False: unchanged, no other
        # connection has committed since (this one's own statements are screened)
        self.looked_at: int | None = None
        # a statement created a temporary object since the runner last dropped them (only then
        # does it list them), and the ones to keep (a --setup's; None: not listed yet)
        self.temp_created = False
        self.temp_kept: frozenset[tuple[str, str]] | None = None
        # the run's migrations not yet applied (ci.db.unapplied), and data_version() in this
        # write transaction
        self.unapplied: Unapplied | None = None
        self.version_now: int | None = None
        self.statements_watch: AbstractContextManager[None] | None = None  # ci.db.statements

    def new_screen(self, *, no_transaction: bool = False, rollback: bool = False) -> Screen:
        return Screen(check=self.check, no_transaction=no_transaction, rollback=rollback)

    def look_for_triggers(self) -> bool:
        """Whether a trigger in the database names the runner's tables, known afresh.

        The answer "none" is kept while no other connection commits (PRAGMA data_version, one
        small read instead of a scan of the whole schema per migration): on this connection, a
        trigger that names the runner's tables can only come from a statement that names them
        too, which is screened and sets `triggers` (see run). "Some" is looked for again each
        time: a migration may have dropped it."""
        version, self.version_now = self.version_now, None
        if version is None or not self.conn.in_transaction:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self.triggers is False and version == self.looked_at:
            return False
        self.triggers = self.conn.execute(BOOKKEEPING_TRIGGERS).fetchone() is not None
        self.looked_at = None if self.triggers else version
        return self.triggers

    def data_version(self) -> int:
        """PRAGMA data_version, read inside a write transaction and kept for look_for_triggers
        to use once in the same transaction (none other can commit meanwhile)."""
        self.version_now = now = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        return now

    def screens(self, word: str, raw: str) -> bool:
        """needs_screening, knowing whether a trigger may write the runner's tables."""
        triggers = self.look_for_triggers() if self.triggers is None else self.triggers
        return needs_screening(word, raw, triggers=triggers)

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if self.observer is not None:
            self.observer(action, arg1, arg2, db, trigger)
        if action in CREATES and (db == "temp" or action in CREATES_TEMP):
            self.temp_created = True
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
        forbid_attach_again = vacuum_screened(self.conn, screen, sql)
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
            forbid_attach_again()
        screen.ran()
        if names_bookkeeping(sql):
            self.triggers = True  # it may have created a trigger that writes them
            created, screen.created = screen.created, []
            return refused_trigger(self.conn, created, self._install)
        return None

    def creating(self, execute: Callable[[], object]) -> None:
        """`execute()`, a CREATE statement the rules do not screen, with the gate's authorizer
        installed only to learn whether it creates a temporary object (`temp_created`)."""
        _set_authorizer(self.conn, self.authorize)
        try:
            execute()
        finally:
            self._install()

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
        _set_authorizer(self.conn, ignore_decided)
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

    def execute(
        self,
        screen: Screen,
        word: str,
        raw: str,
        sql: str,
        notice: Callable[[str], None] | None = None,
    ) -> str | None:
        """Run one statement of user SQL (first word `word`) under `screen`'s rules: None when
        it ran or was ignored (the notice, if any, told to `notice`), else why it was refused.
        SQLite errors propagate."""
        if not self.screens(word, raw):
            self.conn.execute(sql)
            return None
        screen.word = word
        verdict = self.run(screen, sql, lambda: self.conn.execute(sql))
        if verdict is None:
            return None
        if verdict.kind == REFUSE:
            return verdict.message
        if notice is not None and verdict.message:
            notice(verdict.message)
        return None

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


def _pragma_value(value: object) -> str:
    """A value read from a pragma, as its argument (numbers as they are, text quoted)."""
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _set_authorizer(conn: sqlite3.Connection, authorizer: Authorizer | None) -> None:
    sqlite3.Connection.set_authorizer(conn, authorizer)


def gate_of(conn: sqlite3.Connection) -> Gate:
    """The connection's gate (a connection not opened by ci.db.runner.connect gets a new one, with
    the rules of a real run: such a connection is never a check's)."""
    gate = getattr(conn, "gate", None)
    return gate if isinstance(gate, Gate) else Gate(conn, check=False)
