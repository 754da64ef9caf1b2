"""Checking the values read from the runner's own tables: a row written by hand or by another
tool (a BLOB hash, a text or absurd version) is one line naming the row and column, never a
misreading (a BLOB hash never matches a file).
"""

from __future__ import annotations

import sqlite3

from ci.core.model import (
    FIRST_VERSION,
    LAST_VERSION,
    VERSION_RANGE,
    InputError,
    label_of,
    track_of,
    version_in_range,
)
from ci.db.records import AppliedRow
from ci.db.tables import COLUMNS, LOG_TABLE, TABLE

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any

# What each column of a row may hold (None always may): a value of another type was written by
# hand or by another tool, and the runner would misread it (a BLOB hash never matches a file)
TEXT, NUMBER = (str,), (int, float)
EXPECTED = {
    "migration_type": TEXT,
    "description": TEXT + NUMBER,
    "file_hash": TEXT,
    "applied_at": TEXT + NUMBER,  # other tools store epoch seconds
    "logged_at": TEXT,
    "execution_time_ms": NUMBER,
    "rows_affected": NUMBER,
    "applied_by": TEXT,
    "code_hash": TEXT,
}
TYPE_NAMES = {str: "text", int: "an integer", float: "a real number", bytes: "a BLOB"}


# the Python types the sqlite3 module gives each column's allowed SQLite types (INTEGER: int,
# REAL: float, TEXT: str, NULL: None; a BLOB, bytes, is never allowed)
ALLOWED = {column: {*types, type(None)} for column, types in EXPECTED.items()}


def has_odd_values(rows: list[tuple[Any, ...]]) -> bool:
    """Whether any row (read_applied's columns, in COLUMNS order) holds a value checked_row
    would look at twice: a version that is not an integer in range, or a value of another type
    than its column's. One pass over each column in C (the sqlite3 module gives each SQLite
    type one Python type): a query of typeof() on every value cost ~10M instructions on
    1,000 rows, more than reading them."""
    if not rows:
        return False
    columns = list(zip(*rows, strict=True))
    versions = columns[0]
    if set(map(type, versions)) != {int}:
        return True
    if min(versions) < FIRST_VERSION or max(versions) > LAST_VERSION:
        return True
    return any(
        not set(map(type, values)) <= ALLOWED[column]
        for column, values in zip(COLUMNS[1:], columns[1:], strict=True)
    )


def checked_version(value: object, where: str = TABLE) -> int:
    """A row's version as a migration number; InputError with one line when it is not one."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int):
        shown = "a BLOB" if isinstance(value, bytes) else repr(value)
        fix = (
            "the table was written by another tool: rename it, or convert its versions to numbers"
            if where == TABLE
            else "correct or delete that row by hand"
        )
        raise InputError(f"{where}: version {shown} is not a migration number; {fix}")
    if not version_in_range(value):
        raise InputError(
            f"{where}: version {value} is out of range (migration numbers are between "
            f"{VERSION_RANGE}); correct or delete that row by hand"
        )
    return value


def check_value(label: str, column: str, value: object, table: str = TABLE) -> None:
    """InputError naming the row and column when a bookkeeping value has the wrong type."""
    expected = EXPECTED.get(column, TEXT)
    if value is None or isinstance(value, expected):
        return
    wanted = "text" if expected[0] is str else "an integer"
    raise InputError(
        f"{table} row for {label}: {column} is {TYPE_NAMES.get(type(value), 'unreadable')}, "
        f"expected {wanted}; the row was changed by hand or by another tool: correct it"
    )


def database_file(conn: sqlite3.Connection) -> str:
    """The main database's file name, for a message about one of its rows."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or ":memory:"
    return "database"


def checked_mark(row: tuple[object, ...]) -> tuple[object, ...]:
    """An open dirty mark's row (open_marks' columns), checked as schema_version rows are."""
    where = f"{LOG_TABLE} dirty mark id {row[0]}"
    version = checked_version(row[2], where)
    names = ("logged_at", "migration_type", "description", "file_hash", "rows_affected")
    for column, value in zip((*names, "error", "applied_by"), (row[1], *row[3:]), strict=True):
        check_value(f"dirty mark id {row[0]}", column, value, LOG_TABLE)
    return (row[0], str(row[1]), version, *row[3:])


def checked_row(r: tuple[object, ...]) -> AppliedRow:
    version = checked_version(r[0])
    label = label_of(track_of(r[1] if isinstance(r[1], str) else ""), version)
    for column, value in zip(COLUMNS[1:], r[1:], strict=True):
        check_value(label, column, value)
    return as_row(r, version)


def as_row(r: tuple[Any, ...], version: int) -> AppliedRow:
    """A row whose values have their column's types (checked by the caller)."""
    # positional, in the table's column order: one call per applied row, on every start-up
    return AppliedRow(
        version,
        str(r[1] or "schema"),
        str(r[2] or ""),
        r[3],
        None if r[4] is None else str(r[4]),
        r[5],
        r[6],
        r[7],
        r[8],
    )
