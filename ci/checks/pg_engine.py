"""What the checks need to run a project's migrations on its engine: the statement splitter of
that engine (a PostgreSQL file splits as the server reads it: dollar quotes, nested comments),
the catalog discovered with it, and for PostgreSQL the server a check may use and a throwaway
database on it.

Nothing here imports psycopg or pglast at module level: a SQLite project never loads them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ci.checks.options import SERVER_URL_ENV, server_url_or_env
from ci.core.errors import UsageError
from ci.core.model import Catalog, InputError, SqlFile, discover
from ci.core.sqltext import Statement

if TYPE_CHECKING:
    from ci.core.model.sqlfile import Splitter
    from ci.db.postgres.connect import PgConnection
    from ci.db.postgres.runner import PgRunner

POSTGRESQL = "postgresql"
NEEDS_SERVER = (
    "--engine postgresql needs a server for its throwaway databases: give --server-url "
    f"postgresql://USER@HOST:PORT/DB, set ${SERVER_URL_ENV}, or set server_url: in "
    "migration-guard.yaml"
)


def postgres_split(text: str, source: str) -> list[Statement]:
    """A PostgreSQL file's statements (ci.db.postgres.statements.split), imported on first use."""
    from ci.db.postgres.statements import split

    return split(text, source=source)


def splitter_for(engine: str, *, lenient: bool = False) -> Splitter | None:
    """The splitter of `engine`'s files; None: SQLite's, the model's default. `lenient`: text
    the PostgreSQL parser refuses is split by SQLite's rules instead, for lint, where squawk
    reports the syntax error as its own finding (MG700)."""
    if engine != POSTGRESQL:
        return None
    return lenient_postgres_split if lenient else postgres_split


def lenient_postgres_split(text: str, source: str) -> list[Statement]:
    try:
        return postgres_split(text, source)
    except InputError:
        from ci.core.sqltext import split_statements

        return split_statements(text)


def discover_for(root: Path, engine: str) -> Catalog:
    """The migrations directory, its files split as `engine` reads them."""
    return discover(root, splitter=splitter_for(engine))


def required_server(given: str | None) -> str:
    """The server URL (--server-url, config, or the environment); one line and exit 2 without."""
    url = server_url_or_env(given)
    if url is None:
        raise UsageError(NEEDS_SERVER)
    return url


@contextmanager
def throwaway_connection(
    server_url: str, *, ahead: Sequence[SqlFile] = ()
) -> Iterator[PgConnection]:
    """A connection to a new throwaway database on the server, dropped on leaving (by an
    exception or Ctrl-C too). An unreachable server, or a connection lost during the run (the
    server shut down), is CannotRun: one line, exit 2. `ahead`: the files the check will run,
    in the order it runs them; while the server creates the database, their statements' parse
    trees are built (ci.db.postgres.parse_ahead), which the gate would otherwise build as it
    runs them, the server idle meanwhile."""
    import psycopg

    from ci.db.outcomes import CannotRun
    from ci.db.postgres.connect import label, one_line, open_target
    from ci.db.postgres.parse_ahead import parse_ahead
    from ci.db.postgres.throwaway import throwaway

    meanwhile = partial(parse_ahead, ahead) if ahead else None
    # a check that ended normally hands the drop to the server, not waiting for its checkpoint
    with throwaway(server_url, wait=False, meanwhile=meanwhile) as url:
        conn = open_target(url, settings=NO_FLUSH_WAIT)
        try:
            yield conn
        except psycopg.OperationalError as error:
            if not (conn.closed or conn.broken):
                raise  # the server answered (a statement timeout): the check words it
            why = one_line(error)
            raise CannotRun(f"{label(url)}: the check's connection failed: {why}") from None
        finally:
            conn.close()


# Commits of a check's session return without waiting for their WAL to reach the disk.
#
# A check commits once per migration (several times per migration in the round trip), and on a
# server with `fsync` each of those waits for a disk flush. Only durability changes: every
# commit is still atomic, visible at once and in order, and a server crash loses at most the
# last fraction of a second of commits, of a database the check drops anyway (and the crash ends
# the check's connection: exit 2). A start value of the session (a connection option), so the
# runner's session reset after each migration (RESET ALL) keeps it; other sessions are not
# affected. The runner on a user's database (ci.migrate) never sets it.
NO_FLUSH_WAIT = {"synchronous_commit": "off"}


def new_pg_runner(
    conn: PgConnection, catalog: Catalog, statement_timeout: float | None
) -> PgRunner:
    """A runner on a check's throwaway database whose notices stay out of the report."""
    from ci.db.postgres.runner import PgRunner

    return PgRunner(
        conn, catalog, out=io.StringIO(), throwaway=True, statement_timeout=statement_timeout
    )
