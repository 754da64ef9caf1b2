"""The gatekeeper's rules table: for each action SQLite's authorizer reports, the rule that
decides it (ci.db.gatekeeper explains the whole), and which statements need screening at all.
Transactions, savepoints and ATTACH are decided here; pragmas in ci.db.gate_pragmas, the runner's
own tables in ci.db.gate_bookkeeping.
"""

from __future__ import annotations

import re
import sqlite3

from ci.core.sqltext import strip_comments
from ci.db.gate_bookkeeping import BOOKKEEPING_RULES, names_bookkeeping, trigger_write
from ci.db.gate_pragmas import pragma_rule
from ci.db.gate_screen import (
    ATTACH,
    IGNORE,
    PRAGMA,
    REFUSE,
    SAVEPOINT,
    TRANSACTION,
    ScreenState,
    Verdict,
)

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:
    from ci.db.gate_bookkeeping import Rule


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
WRITING = frozenset(("INSERT", "REPLACE", "WITH", "UPDATE", "DELETE"))


def names_schema_table(raw: str) -> bool:
    """Whether the text spells sqlite_ in any case, as the case-blind regex finds it."""
    # ASCII text (nearly every statement): the same answer without lowering each character the
    # regex tries; it also matches long s and dotless i, so other text still goes through it
    if raw.isascii():
        return "sqlite_" in raw.lower()
    return _SCHEMA_TABLE.search(raw) is not None


class Screen(ScreenState):
    """The rules for the statements of one migration file, and what its statements so far did
    (the savepoints it opened, the connection settings it changed)."""

    __slots__ = ()

    def decide(
        self, action: int, arg1: str | None, arg2: str | None, trigger: str | None = None
    ) -> Verdict | None:
        """The verdict on one authorizer report (None: allowed). `trigger`: the trigger whose
        program did it (only writes to the runner's tables are decided there)."""
        if trigger is not None:
            return trigger_write(action, arg1, trigger)
        if self.vacuum is not None:  # SQLite's own statements copying the database: only
            # where the copy goes is the migration's (VACUUM INTO's file; else a temporary one)
            return _attach(self, arg1, arg2) if action == ATTACH and self.vacuum else None
        rule = RULES.get(action)
        return None if rule is None else rule(self, arg1, arg2)


# --- the rules, one per action code --------------------------------------------------------


def _transaction(screen: ScreenState, operation: str | None, _: str | None) -> Verdict:
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


def _savepoint(screen: ScreenState, operation: str | None, name: str | None) -> Verdict | None:
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


def _attach(screen: ScreenState, _: str | None, __: str | None) -> Verdict | None:
    if not screen.check:
        return None
    what = "VACUUM INTO" if screen.vacuum else "ATTACH"  # it attaches its target
    return Verdict(
        REFUSE,
        f"{what} is not allowed in a check: the check works on a throwaway database in a "
        "temporary directory and must not create or change files outside it",
    )


RULES: dict[int, Rule] = {
    TRANSACTION: _transaction,
    SAVEPOINT: _savepoint,
    PRAGMA: pragma_rule,
    ATTACH: _attach,  # (DETACH can only undo an ATTACH)
    **BOOKKEEPING_RULES,
}
CREATES_TRIGGER = frozenset((sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_TRIGGER))
# What `prepares` ignores while proving that a statement prepares: every action a rule decides.
DECIDED = frozenset(RULES)


def needs_screening(word: str, raw: str, *, triggers: bool = False) -> bool:
    """Whether a statement with this first word (upper case) can meet a rule above; `triggers`:
    a trigger in the database names the runner's tables (any statement may fire it)."""
    if triggers or word in SCREENED or names_bookkeeping(raw):
        return True
    return word in WRITING and names_schema_table(raw)
