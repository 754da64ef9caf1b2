"""What to do about a migration that SQLite refused (MG301's "To fix"), from SQLite's words.

A syntax error needs a fixed statement, a UNIQUE failure on sample data needs the duplicate rows
dealt with, a missing table needs the migrations in another order: one generic hint for all of
them sends the reader the wrong way. Each entry is (pattern of SQLite's message, hint on an empty
database, hint when the database holds rows); the first matching entry wins, and `{0}`, `{1}`
stand for the pattern's groups. Anything not in the table gets the generic hint.
"""

from __future__ import annotations

import re

GENERIC = "fix the statement on that line"
GENERIC_ON_ROWS = (
    "make the statement work with the existing rows (clean them in an earlier data migration, "
    "or handle them in the statement), or fix the statement on that line"
)

HINTS: tuple[tuple[str, str, str], ...] = (
    (
        r"syntax error|incomplete input|unrecognized token",
        "fix the SQL syntax on that line: SQLite could not parse it",
        "fix the SQL syntax on that line: SQLite could not parse it",
    ),
    (
        r"UNIQUE constraint failed: (.+)",
        "the statement writes a value of {0} that is already there: change the values, or use "
        "INSERT OR IGNORE / ON CONFLICT",
        "existing rows have duplicate values of {0}: remove or merge the duplicate rows in an "
        "earlier data migration, or make the statement skip them",
    ),
    (
        r"Cannot add a NOT NULL column with default value NULL",
        "give the new column a DEFAULT other than NULL, or add it without NOT NULL and fill it "
        "in a data migration",
        "give the new column a DEFAULT other than NULL, or add it without NOT NULL and fill it "
        "in a data migration",
    ),
    (
        r"NOT NULL constraint failed: (.+)",
        "the statement leaves {0} without a value: give it one, or give the column a DEFAULT",
        "existing rows have no value for {0}: fill it in an earlier data migration, give the "
        "column a DEFAULT, or make the statement supply one",
    ),
    (
        r"CHECK constraint failed: (.+)",
        "the statement writes a value that CHECK {0} refuses: change the value or the CHECK",
        "existing rows break CHECK {0}: fix them in an earlier data migration, or relax the CHECK",
    ),
    (
        r"FOREIGN KEY constraint failed|foreign key violation",
        "a row points to a parent row that does not exist: insert the parent first, or correct "
        "the REFERENCES",
        "existing rows point to parent rows that do not exist: delete or fix the orphan rows in "
        "an earlier data migration, or correct the REFERENCES",
    ),
    (
        r"no such table: (\S+)",
        "table {0} does not exist at this point: check its name, and that the migration creating "
        "it is an earlier migration (a lower number) than this one",
        "table {0} does not exist at this point: check its name, and that the migration creating "
        "it is an earlier migration (a lower number) than this one",
    ),
    (
        r"no such column: (\S+)",
        "column {0} does not exist at this point: check its name, and that an earlier migration "
        "adds it",
        "column {0} does not exist at this point: check its name, and that an earlier migration "
        "adds it",
    ),
    (
        r"(table|index|view|trigger) (\S+) already exists",
        "{0} {1} is already created by an earlier migration: drop the duplicate CREATE, or write "
        "CREATE {0} IF NOT EXISTS if both are meant",
        "{0} {1} already exists in the sample data: an earlier migration or the sample creates "
        "it; drop the duplicate CREATE, or write CREATE {0} IF NOT EXISTS",
    ),
    (
        r"duplicate column name: (\S+)",
        "column {0} is already added by an earlier migration: drop this ADD COLUMN",
        "column {0} already exists in the sample data: drop this ADD COLUMN, or check the "
        "sample's @sample-version",
    ),
)


def fix_for(message: str, *, on_sample: bool = False) -> str:
    """The hint for a statement SQLite refused with `message`; `on_sample`: the database holds
    rows (sample data), so constraint failures are about those rows."""
    for pattern, on_empty, on_rows in HINTS:
        found = re.search(pattern, message, flags=re.IGNORECASE)
        if found:
            hint = on_rows if on_sample else on_empty
            return hint.format(*found.groups())
    return GENERIC_ON_ROWS if on_sample else GENERIC
