"""The lint check's name, and what it reports about a file it cannot lint as it is.

A file that cannot be linted at all (binary, not UTF-8, a bad directive) is one MG500 finding
naming its line; an empty file is an MG500 warning. Reading a file for the rules is here too, as
that is where such input is found.
"""

from __future__ import annotations

import re
from pathlib import Path

from ci.checks.lint.rules.base import FileContext
from ci.core.findings import Finding
from ci.core.model import InputError, SqlFile
from ci.core.model.sqlfile import Splitter

CHECK = "lint"
# A file that cannot be linted at all: binary, not UTF-8, empty, a bad directive.
INPUT_CODE = "MG500"
_WHERE = re.compile(r"^(?P<path>.*?):(?P<line>\d+): (?P<message>.*)$")


def file_context(
    path: Path, folder: str, min_sqlite: tuple[int, int, int], splitter: Splitter | None = None
) -> FileContext:
    """Read one file for the rules; unusable input raises InputError naming file and line.
    `splitter`: the engine's (ci.checks.pg_engine.splitter_for; None: SQLite's)."""
    sql_file = SqlFile(path, splitter)
    statements = tuple(sql_file.statements)
    return FileContext(
        path, folder, sql_file.text, statements, sql_file.directives, min_sqlite=min_sqlite
    )


EMPTY_MIGRATION_HINT = "write its SQL, or a comment saying why it does nothing"
# a comment-only rollback passes the round trip only when its migration does nothing either
# (MG402): one that cannot be undone says so in the migration instead
EMPTY_ROLLBACK_HINT = (
    "write the SQL that undoes the migration; a comment alone passes the round trip only when "
    "the migration does nothing either: if it cannot be undone, put '-- @irreversible <reason>' "
    "in the migration and delete this file"
)


def empty_file(path: Path, folder: str) -> Finding:
    """A migration with nothing in it (0 bytes, or blanks) runs as a no-op; a warning, as it is
    more often a slip than a plan: a comment-only file says why it does nothing."""
    return Finding(
        CHECK,
        INPUT_CODE,
        str(path),
        None,
        f"empty file: it runs as a no-op {'rollback' if folder == 'rollback' else 'migration'}",
        EMPTY_ROLLBACK_HINT if folder == "rollback" else EMPTY_MIGRATION_HINT,
        "warning",
    )


def input_finding(path: Path, error: InputError) -> Finding:
    """An InputError (`path:line: message` or `path: message`) as a finding with its line."""
    text = str(error)
    match = _WHERE.match(text)
    if match and match["path"] == str(path):
        return Finding(CHECK, INPUT_CODE, str(path), int(match["line"]), match["message"])
    message = text.removeprefix(f"{path}: ")
    return Finding(CHECK, INPUT_CODE, str(path), None, message, "")
