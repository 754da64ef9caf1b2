"""What the gatekeeper decides about one statement (`Verdict`: IGNORE or REFUSE), and what it
knows about the statements of one migration file so far (`ScreenState`: its savepoints, the
connection settings it changed). The base the gatekeeper's rules are written on (ci.db.gate_rules,
ci.db.gate_pragmas, ci.db.gate_bookkeeping); ci.db.gatekeeper explains the whole.
"""

from __future__ import annotations

import re
import sqlite3

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:  # aliases for the type checker only: building them costs start-up time
    from collections.abc import Callable
    from typing import TypeAlias

    Authorizer: TypeAlias = Callable[[int, str | None, str | None, str | None, str | None], int]
    Action: TypeAlias = tuple[int, str | None, str | None]  # (action code, argument, argument)

IGNORE = "ignore"  # not run; the runner prints the message as a notice
REFUSE = "refuse"  # not run; the migration fails with the message

TRANSACTION = sqlite3.SQLITE_TRANSACTION
SAVEPOINT = sqlite3.SQLITE_SAVEPOINT
PRAGMA = sqlite3.SQLITE_PRAGMA
ATTACH = sqlite3.SQLITE_ATTACH

# A statement's first word, after any comments and whitespace.
FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(\w+)", re.DOTALL)


class Verdict:
    """What happens to a screened statement instead of running it: IGNORE or REFUSE."""

    __slots__ = ("kind", "message", "reason")

    def __init__(self, kind: str, message: str, reason: str = "") -> None:
        self.kind = kind
        self.message = message  # the notice, or why the migration fails
        self.reason = reason or message  # why, without naming the statement (for lint)

    def __repr__(self) -> str:
        return f"Verdict({self.kind!r}, {self.message!r})"


class ScreenState:
    """What the statements of one migration file did so far (the savepoints it opened, the
    connection settings it changed), and which rules apply to them; ci.db.gate_rules.Screen adds
    the decisions."""

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
        "vacuum",
        "word",
    )

    def __init__(self, *, check: bool, no_transaction: bool, rollback: bool = False) -> None:
        self.check = check  # a check's throwaway database: the stricter rules
        self.no_transaction = no_transaction
        self.rollback = rollback  # a rollback file: its DELETE of its own row is ignored
        self.leading = False  # the statement is one of the file's leading PRAGMA foreign_keys
        self.word = ""  # the statement's first word, as written (END for a COMMIT)
        self.sql = ""  # the statement being decided
        self.schema_writable = False  # writable_schema was on when the statement started
        # the statement is a VACUUM INTO (True), a VACUUM in place (False) or none (None), as
        # ci.db.gate_vacuum says: what a VACUUM reports while it runs is SQLite's
        # own copying (ATTACH of the copy, BEGIN, CREATE, INSERT, ...)
        self.vacuum: bool | None = None
        self.savepoints: list[str] = []  # opened by this file and not yet released
        self.pending: Action | None = None  # the savepoint statement being run
        self.saved: dict[str, object] = {}  # RESTORED_PRAGMAS changed: their values before
        self.created: list[tuple[str, str, str]] = []  # triggers (schema, name, table) created

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
