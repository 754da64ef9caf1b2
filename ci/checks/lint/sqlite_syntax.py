"""Whether SQLite itself compiles a statement that sqlfluff cannot parse.

sqlfluff's dialect has gaps (a column without a type, a keyword SQLite takes as a name): SQLite
decides. The statement is compiled (`EXPLAIN`, never run) on a private in-memory database, so
only an error that no schema could avoid counts as SQLite rejecting it.
"""

from __future__ import annotations

import re

# SQLite's errors that depend on the schema a statement runs against, not on its syntax: a
# statement that gets one is valid SQL. Any other error (a syntax error, "incomplete input",
# a rule SQLite's parser enforces itself) means SQLite rejects the statement wherever it runs.
_SCHEMA_ERRORS = re.compile(
    r"no such (?:table|column|view|index|trigger|function|collation sequence|module)\b"
    r"|unknown database\b|not authorized\b|.* already exists$|.* has no column named\b"
    r"|.* has \d+ columns but \d+ values were supplied$|ON CONFLICT clause does not match\b",
    re.IGNORECASE,
)
_NO_SUCH_TABLE = re.compile(r"no such table: (?:(main|temp)\.)?([^.]+)", re.IGNORECASE)
MAX_STUB_TABLES = 20


def sqlite_rejects(statement: str) -> str | None:
    """SQLite's error for a statement it cannot compile in any schema, or None if it can.

    The statement is compiled (`EXPLAIN`, never run) on a private in-memory database. A table
    it names that does not exist there is created (empty) and the statement compiled again:
    SQLite stops at its first error, and a missing table (the one in `CREATE TRIGGER ... ON t
    BEGIN ... END`) would hide a syntax error after it."""
    import sqlite3

    explained = re.match(r"\s*EXPLAIN\b", statement, re.IGNORECASE)
    sql = statement if explained else f"EXPLAIN {statement}"
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for _ in range(MAX_STUB_TABLES):
            conn.set_authorizer(_no_side_effects)
            try:
                conn.execute(sql).fetchall()
                return None
            except (sqlite3.ProgrammingError, sqlite3.Warning):
                return None  # it compiled; its parameters (:batch_size) are not bound here
            except sqlite3.Error as error:
                message = str(error)
            missing = _NO_SUCH_TABLE.fullmatch(message)
            if missing is None:
                return None if _SCHEMA_ERRORS.match(message) else message
            conn.set_authorizer(None)
            temp = "TEMP " if (missing[1] or "").lower() == "temp" else ""
            quoted = '"' + missing[2].replace('"', '""') + '"'
            conn.execute(f"CREATE {temp}TABLE {quoted} (_)")
        return None  # still a missing table: a name SQLite could resolve in a real schema
    except sqlite3.Error:
        return None  # the stand-in table could not be made: the error was about the schema
    finally:
        conn.close()


def _no_side_effects(action: int, *_: str | None) -> int:
    """Compiling a PRAGMA or an ATTACH may already act: refused (the statement compiled)."""
    import sqlite3

    if action in (sqlite3.SQLITE_PRAGMA, sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK
