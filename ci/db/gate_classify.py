"""Classifying a statement without a database: what SQLite's authorizer reports for it when it
is prepared (never run) on a private in-memory database. Lint (MG508) and the runner's reading of
a file's leading `PRAGMA foreign_keys` ask here.
"""

from __future__ import annotations

import os
import sqlite3
from functools import lru_cache

from ci.db.gate_pragmas import ON_VALUES
from ci.db.gate_rules import DECIDED
from ci.db.gate_screen import FIRST_WORD, PRAGMA

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:
    from ci.db.gate_screen import Action


def ignore_decided(action: int, *_: str | None) -> int:
    """The authorizer of `Gate.prepares` and `classify`: what a rule decides is left out of the
    program (SQLite then goes on parsing), everything else is prepared as usual."""
    return sqlite3.SQLITE_IGNORE if action in DECIDED else sqlite3.SQLITE_OK


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


@lru_cache(maxsize=64)
def vacuum_into(sql: str) -> bool | None:
    """Whether SQLite compiles `sql` to a VACUUM INTO (True) or a VACUUM in place (False), or
    to no VACUUM at all (None): its program's Vacuum opcode, whose P2 is the register of the
    INTO file name (0: none). Prepared (EXPLAIN, never run) on the private database; a
    statement that does not prepare there (a schema only the migration attached) is none."""
    conn = _scratch()
    sqlite3.Connection.set_authorizer(conn, ignore_decided)
    try:
        program = conn.execute(f"EXPLAIN {sql}").fetchall()
    except (sqlite3.Error, sqlite3.Warning):
        return None
    finally:
        sqlite3.Connection.set_authorizer(conn, None)
    return next((row[3] != 0 for row in program if row[1] == "Vacuum"), None)


def prepare_error(sql: str, seen: list[Action] | None = None) -> None:
    """Prepare `sql` (EXPLAIN, every decided action ignored) on the private database, noting
    the actions SQLite reports in `seen`; raises SQLite's error if it does not prepare."""
    record = seen if seen is not None else []

    def authorize(action: int, arg1: str | None, arg2: str | None, *_: str | None) -> int:
        record.append((action, arg1, arg2))
        return ignore_decided(action)

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
