"""Opening the user's PostgreSQL database: one connection in autocommit (the runner issues BEGIN
and COMMIT itself), counting the rows each statement changes, and one line (never a traceback,
never the password) when the server cannot be reached, refuses the login or has no such database.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ci.db.outcomes import CannotRun

if TYPE_CHECKING:
    from ci.core.model import SqlFile
    from ci.core.sqltext import Statement

CONNECT_TIMEOUT = 10  # seconds to reach the server: a wrong host fails in seconds, not minutes
APPLICATION_NAME = "migration-guard"  # what pg_stat_activity shows for the runner's session
# the command tags whose row count is a change (SELECT's is rows returned, DDL has none)
CHANGING_COMMANDS = ("INSERT", "UPDATE", "DELETE", "MERGE", "COPY")


def label(url: str) -> str:
    """The URL as the runner shows it: user, host, port and database; never the password,
    never the query (which may carry `password=` or `sslkey=`). A URL that cannot be read
    (an unclosed IPv6 bracket) shows only its scheme: its parts cannot be told apart, so no
    part of it is known to be free of the password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.partition('://')[0] or 'postgresql'}://(unreadable URL)"
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address goes back into brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    user = f"{parts.username}@" if parts.username else ""
    netloc = f"{user}{host}" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def changed_rows(status: str | None) -> int:
    """The rows a statement changed, from its command tag ('UPDATE 3', 'INSERT 0 5')."""
    if not status:
        return 0
    words = status.split()
    if words[0] not in CHANGING_COMMANDS or not words[-1].isdigit():
        return 0
    return int(words[-1])


class CountingCursor(psycopg.Cursor[Any]):
    """Adds what each statement changed to its connection's count, whoever runs it (the
    runner, or the gatekeeper on the runner's connection)."""

    def execute(self, *args: Any, **kwargs: Any) -> CountingCursor:
        super().execute(*args, **kwargs)
        connection = self.connection
        if isinstance(connection, PgConnection):
            connection.changes += changed_rows(self.statusmessage)
        return self


Cursor = psycopg.Cursor[Any]  # a cursor of the runner's connection (answers read later)


class PgConnection(psycopg.Connection[Any]):
    """The runner's connection: `changes` counts the rows its statements changed so far
    (SQLite's total_changes). `throwaway` (a check's database) and `dry_run` (a run rolled back
    at the end): what the gate refuses on it (ci.db.postgres.gate_reach), set by whoever runs
    migrations on it (PgRunner, the dry run) and read by every file run on it."""

    changes = 0
    throwaway = False
    dry_run = False
    # the user's file (and statement: None when several were sent at once) now running: what
    # the server says meanwhile names it (PgRunner's notices)
    running: tuple[SqlFile, Statement | None] | None = None


def open_target(
    url: str,
    *,
    connect_timeout: int = CONNECT_TIMEOUT,
    database_required: bool = True,
    settings: dict[str, str] | None = None,
) -> PgConnection:
    """The user's database in autocommit; CannotRun (one line, the password left out) when it
    cannot be opened. `database_required`: a URL that names no database is refused (see
    url_problem); only a probe of the server itself passes False. `settings`: the session's
    own start values (`-c name=value` options, after those of the URL or $PGOPTIONS): the
    runner's session reset (RESET ALL) goes back to them, not to the server's."""
    problem = url_problem(url, database_required=database_required)
    if problem is not None:
        raise CannotRun(f"{label(url)}: {problem}")
    extra: dict[str, Any] = {"options": start_options(url, settings)} if settings else {}
    try:
        return PgConnection.connect(
            url,
            autocommit=True,
            connect_timeout=connect_timeout,
            application_name=APPLICATION_NAME,
            cursor_factory=CountingCursor,
            **extra,
        )
    except psycopg.Error as error:
        raise CannotRun(f"{label(url)}: cannot connect: {why_not_connected(error, url)}") from None


def open_beside(conn: psycopg.Connection[Any], settings: dict[str, str]) -> psycopg.Connection[Any]:
    """A second session on `conn`'s database, as the same user, in autocommit, with `settings`
    as its start values (`-c name=value`, after the options of `conn`'s URL). psycopg.Error
    when the server refuses it (too many connections)."""
    from psycopg.conninfo import make_conninfo

    given = conn.info.get_parameters().get("options", "")
    options = " ".join([given, *(f"-c {name}={value}" for name, value in settings.items())])
    conninfo = make_conninfo(
        conn.info.dsn,
        password=conn.info.password or None,
        options=options.strip(),
        application_name=APPLICATION_NAME,
        connect_timeout=CONNECT_TIMEOUT,
    )
    return psycopg.Connection.connect(conninfo, autocommit=True)


def start_options(url: str, settings: dict[str, str]) -> str:
    """The URL's `options` (or $PGOPTIONS, which an `options` argument would replace), then
    `-c name=value` for each setting."""
    given = conninfo_to_dict(url).get("options") or os.environ.get("PGOPTIONS") or ""
    return " ".join([str(given), *(f"-c {name}={value}" for name, value in settings.items())])


def url_problem(url: str, *, database_required: bool = True) -> str | None:
    """Why the URL cannot be used, before any connection: it cannot be read, or it names no
    database. libpq would fill a missing name in from $PGDATABASE or the user's name, so
    `postgresql://u@host:5432/$DB` with $DB unset would migrate whatever database that picks."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as error:
        # libpq's reason, without the URL it quotes (that would show the password)
        reason = " ".join(str(error).split()).split(" in URI")[0].split(" in connection")[0]
        return f"the URL cannot be read: {reason}"
    if database_required and not str(params.get("dbname") or "").strip():
        return (
            "the URL names no database; write postgresql://USER@HOST:PORT/DATABASE "
            "(a missing name would be filled in from $PGDATABASE or the user's name)"
        )
    return None


def why_not_connected(error: Exception, url: str) -> str:
    """libpq's reason in one line: the last 'failed: ...' part, without 'FATAL:' and hints."""
    text = " ".join(str(error).split())
    reason = text.rpartition("failed: ")[2] or text or type(error).__name__
    reason = reason.replace("FATAL: ", "").split(" Is the server running")[0]
    try:
        password = urlsplit(url).password
    except ValueError:  # url_problem refuses such a URL before any connection
        password = None
    if password:
        reason = reason.replace(password, "***")
    return reason.strip()


def one_line(error: Exception) -> str:
    """A server error's message in one line (for errors outside a migration's statements)."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(error) or type(error).__name__
    return " ".join(text.split())
