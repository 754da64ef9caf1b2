"""Parse trees built ahead, while the server is busy with something the run waits for anyway
(a check's CREATE DATABASE: ci.db.postgres.throwaway, `meanwhile`).

The gate asks each statement's parse tree as it runs it (PgStatement.tree); a tree built here
is handed over then instead of being built again. So the client parses while the server
copies template0, instead of each waiting for the other. Only what the run will ask, in the
order it asks, and only while the server is busy; a tree is held until it is asked for, so at
most LIMIT characters of statements are parsed ahead (a tree takes 13-30 bytes of memory per
character of SQL).

Nothing here raises for the files: a file that cannot be read or split, or a statement the
parser refuses, is left as it was, and the run meets it where it meets it today and reports it
as it does today.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ci.core.model import InputError, SqlFile
from ci.db.postgres.statements import PgStatement

LIMIT = 1 << 19  # characters: ~0.6 s of parsing, more than a CREATE DATABASE takes


def parse_ahead(files: Iterable[SqlFile], busy: Callable[[], bool], *, limit: int = LIMIT) -> int:
    """Build the trees of the files' statements, in order, while `busy()` and within `limit`
    characters; how many were built. The files are split as they come (SqlFile.statements,
    kept on the file: the run's splitting is done too)."""
    built = used = 0
    for file in files:
        if not busy():
            break
        for statement in _statements(file):
            used += len(statement.raw)
            if used > limit or not busy():
                return built
            try:
                statement.parse_ahead()
            except Exception:  # optional work: the run parses it again where it reports it
                continue
            built += 1
    return built


def _statements(file: SqlFile) -> list[PgStatement]:
    """The file's statements as the run will get them (ci.db.postgres.execute.statements):
    the file's own when its splitter is PostgreSQL's; none otherwise, or when it cannot be
    split (the run reports why)."""
    try:
        found = file.statements if file.splitter is not None else []
    except InputError:
        return []
    return [s for s in found if isinstance(s, PgStatement) and s.is_statement]
