"""Throwaway databases on a PostgreSQL server: a check's private database, created for one run
and always dropped, also when the run that created it was killed.

`throwaway(server_url)` creates `mg_<yyyymmddHHMMSS>_<8 hex digits>` from `template0` (nothing a
site added to template1 leaks into a check) and yields its URL; on leaving, by an exception or
Ctrl-C too, it drops it `WITH (FORCE)`, so a connection the check left open cannot keep it.

A process killed with -9 runs no `finally`, and its database stays. To tell such a leftover from
a database another run is still using, the creator holds a session advisory lock, keyed on the
database's name, on its maintenance connection (to the server URL's own database) for as long as
the throwaway lives; it takes the lock before the database exists. The server ends a session's
locks when the session ends, and the session ends when its process dies, however it dies.
`clean_leftovers(server_url)`, run before each create, drops every database named like ours
whose lock nobody holds and to which no session is connected. Advisory locks belong to one
database, so a holder connected to another maintenance database is found in `pg_locks`, which
shows every database's. A database whose name does not match ours exactly, or that belongs to
a role we are not a member of, is never touched.

Commits on a throwaway database do not wait for their WAL to reach the disk (the database's
default `synchronous_commit = off`): a check commits once per migration, the round trip three
times, and each would wait for a flush. Only durability changes, of a database that is dropped
anyway; every commit is still atomic, visible at once and in order.

What a throwaway costs: creating one copies template0 through the WAL (PostgreSQL 15's default
`STRATEGY WAL_LOG`, no checkpoint), tens of milliseconds. Dropping one makes the server run a
checkpoint and wait for it (`pg_stat_bgwriter.checkpoints_req` goes up by one per drop, not per
create): the dropped database's own buffers are discarded first, so the wait is for every
*other* database's dirty buffers on the server to reach the disk, from milliseconds on a quiet
server to most of a second on a busy shared one. No option of DROP DATABASE avoids it; a check
that ended normally does not wait for it (`wait=False`, `hand_over_drop`).

While the server creates the database, the client need not wait idle: `meanwhile` is work of
the caller's that needs no database (a check parses its statements: ci.db.postgres.parse_ahead),
done in the calling thread while the CREATE DATABASE runs in a thread of its own (`Creating`;
psycopg waits for the server's answer with the GIL released). Nothing else changes: the lock
is taken before, every failure is the same one line, and the database is dropped whatever
`meanwhile` raises, Ctrl-C included (the CREATE is cancelled and waited for first).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ci.db.outcomes import CannotRun

PREFIX = "mg_"
NAME = re.compile(r"mg_[0-9]{14}_[0-9a-f]{8}")
SCHEMES = ("postgresql", "postgres")
# The first key of every throwaway lock ("mgTH"): the second is derived from the name. The
# two-key form keeps these locks apart from any single-key advisory lock (the runner's).
LOCK_SPACE = 0x6D675448
CONNECT_TIMEOUT = 10  # seconds; an unreachable server is one line, not a hang

Notice = Callable[[str], None]
# work done while the server creates the database; it is given `busy()`, true until it is done
Meanwhile = Callable[[Callable[[], bool]], object]


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def throwaway(
    server_url: str,
    *,
    notice: Notice | None = to_stderr,
    wait: bool = True,
    template: str = "template0",
    meanwhile: Meanwhile | None = None,
) -> Iterator[str]:
    """A new database on the server of `server_url`, as a URL; dropped on leaving.

    Leftovers of killed runs are dropped first (`notice` is told which). CannotRun (exit 2)
    when the server cannot be reached or the role may not create databases. `wait=False`: on
    leaving without an exception, the DROP is sent and not waited for (`hand_over_drop`).
    `template`: the database it copies (default empty, `template0`); no session may be
    connected to it meanwhile (the pytest fixtures copy a migrated throwaway of theirs).
    `meanwhile(busy)`: caller's work run while the server creates it (the module's doc)."""
    with maintenance(server_url) as conn:
        cleaned = drop_unheld(conn)
        if cleaned and notice is not None:
            notice(
                "dropped throwaway databases left by runs that did not finish: "
                + ", ".join(cleaned)
            )
        name = lock_new_name(conn)
        try:
            if meanwhile is None:
                create(conn, name, server_url, template)
            else:
                create_meanwhile(conn, name, server_url, template, meanwhile)
            yield database_url(server_url, name)
        except BaseException:
            to_the_end(lambda: drop(conn, name, notice))
            raise
        if wait:
            drop(conn, name, notice)
        else:
            hand_over_drop(conn, name)


def clean_leftovers(server_url: str) -> list[str]:
    """Drop every throwaway database whose creator is gone (killed, crashed); their names."""
    with maintenance(server_url) as conn:
        return drop_unheld(conn)


def is_ours(name: str) -> bool:
    """Whether `name` is a throwaway database's name, exactly as `throwaway` makes them."""
    return NAME.fullmatch(name) is not None


def new_name() -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return f"{PREFIX}{stamp}_{secrets.token_hex(4)}"


def lock_key(name: str) -> int:
    """The second key of the advisory lock that says `name`'s creator is alive (31 bits: an
    oid in pg_locks and an int4 argument alike)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") & 0x7FFFFFFF


@contextmanager
def maintenance(server_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the server URL's own database (CannotRun if unreachable)."""
    check_url(server_url)
    try:
        conn = psycopg.connect(server_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as error:
        raise CannotRun(
            f"cannot connect to the PostgreSQL server {shown(server_url)}: "
            f"{first_line(error, server_url)}"
        ) from None
    with conn:
        yield conn


def check_url(server_url: str) -> None:
    if urlsplit(server_url).scheme not in SCHEMES:
        raise CannotRun(
            f"--server-url {shown(server_url)}: expected a URL postgresql://USER@HOST:PORT/DB "
            "of a server where the checks may create and drop databases"
        )


def lock_new_name(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """A fresh name, its lock held by this session (a name whose key another live run holds,
    however unlikely, is passed over)."""
    while True:
        name = new_name()
        if try_lock(conn, name):
            return name


def try_lock(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    row = conn.execute(
        "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, lock_key(name))
    ).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, lock_key(name)))


def create(
    conn: psycopg.Connection[tuple[object, ...]],
    name: str,
    server_url: str,
    template: str = "template0",
) -> None:
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    # the database's own default, so every session on it has it, also after the runner's
    # RESET ALL between migrations (a session SET is gone after the first one)
    no_flush_wait = sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
        sql.Identifier(name)
    )
    try:
        conn.execute(statement)
        conn.execute(no_flush_wait)
    except psycopg.errors.InsufficientPrivilege:
        role = conn.info.user  # also when the URL names none (the login's own name)
        raise CannotRun(
            f"{shown(server_url)}: {role} may not create databases (no CREATEDB privilege); "
            f"grant it (ALTER ROLE {role} CREATEDB) or give a --server-url whose role has it"
        ) from None
    except psycopg.Error as error:
        raise CannotRun(
            f"{shown(server_url)}: cannot create a throwaway database: "
            f"{first_line(error, server_url)}"
        ) from None


def create_meanwhile(
    conn: psycopg.Connection[tuple[object, ...]],
    name: str,
    server_url: str,
    template: str,
    meanwhile: Meanwhile,
) -> None:
    """`create`, in a thread of its own, while this one runs `meanwhile(busy)`; raises what
    `create` raises once both are done. When `meanwhile` (or the wait) raises, Ctrl-C too, the
    CREATE is stopped first, so the caller's drop finds the connection free and no thread is
    left running."""
    creating = Creating(conn, name, server_url, template)
    creating.start()
    try:
        meanwhile(creating.is_alive)
        creating.join()
    except BaseException:
        to_the_end(creating.stop)
        raise
    if creating.error is not None:
        raise creating.error


def to_the_end(cleanup: Callable[[], None]) -> None:
    """`cleanup()` run to its end although Ctrl-C comes again meanwhile (or SIGTERM, which
    stops a command as Ctrl-C does): the first Ctrl-C started it, and a second one that broke
    it off left the CREATE running and the database behind. Each step here is safe to run
    again (stopping a stopped CREATE, dropping a dropped database), and each is bounded (the
    cancel's timeout), so pressing Ctrl-C repeatedly still ends the command."""
    while True:
        try:
            cleanup()
            return
        except KeyboardInterrupt:
            continue


class Creating(threading.Thread):
    """`create` on the maintenance connection, which nothing else uses until it is done. A
    daemon: whatever happens, it never keeps the process alive."""

    def __init__(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        name: str,
        server_url: str,
        template: str,
    ) -> None:
        super().__init__(name=f"create {name}", daemon=True)
        self.conn, self.database, self.server_url = conn, name, server_url
        self.template = template
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            create(self.conn, self.database, self.server_url, self.template)
        except BaseException as error:  # the caller's thread raises it
            self.error = error

    def stop(self) -> None:
        """Cancel the CREATE (as psycopg does on Ctrl-C in a query it waits for) and wait for
        the thread. A cancel that reaches the server just after the CREATE ended would stop
        the next statement, the drop: a `SELECT 1` takes it (as Deadline does)."""
        if not self.is_alive():
            return
        with suppress(psycopg.Error, OSError):
            self.conn.cancel_safe(timeout=CONNECT_TIMEOUT)
        self.join()
        with suppress(psycopg.Error):
            self.conn.execute("SELECT 1")


def drop(conn: psycopg.Connection[tuple[object, ...]], name: str, notice: Notice | None) -> None:
    """Drop our throwaway. If the server is gone meanwhile, say so: the lock ends with the
    session, and the next run drops the database."""
    try:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        unlock(conn, name)
    except psycopg.Error as error:
        if notice is not None:
            notice(
                f"could not drop throwaway database {name} ({first_line(error)}); "
                "the next run drops it"
            )


def hand_over_drop(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    """Send the DROP and hang up without waiting for it: the server finishes it alone.

    A drop waits for a checkpoint (the module's doc), from milliseconds to most of a second
    on a busy server, which a check has no need to wait for: the server's backend goes on
    with a command whose client hung up (it notices only when it answers, after the drop has
    committed), and the lock that says the database's run is alive stays with that session
    until the drop is done, so no other run takes it for a leftover meanwhile. The database
    is gone a moment after the check's process exits; if the server stops before the drop
    ends, the next run drops it as any leftover."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    try:
        conn.pgconn.send_query(statement.as_bytes(conn))
        conn.pgconn.flush()
    except psycopg.Error:
        pass  # the server is gone: the next run drops it
    conn.close()  # no answer read: the session ends once the drop is done


def drop_unheld(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Drop each of our databases whose creator's lock is free; the names dropped."""
    dropped = []
    for name in candidates(conn):
        if not try_lock(conn, name):
            continue  # its creator is alive, connected to the same maintenance database
        try:
            if not held_elsewhere(conn, name) and not in_use(conn, name):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                dropped.append(name)
        except psycopg.Error:
            pass  # left for a later run; this one's own database does not depend on it
        finally:
            unlock(conn, name)
    return dropped


def candidates(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Databases named like ours that this role may drop (a member of the owner's role)."""
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE 'mg\\_%' "
        "AND pg_has_role(current_user, datdba, 'MEMBER') ORDER BY datname"
    ).fetchall()
    return [str(row[0]) for row in rows if is_ours(str(row[0]))]


def held_elsewhere(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    """Whether another session (in any database of the server) holds `name`'s lock."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 2 "
        "AND pid <> pg_backend_pid()",
        (LOCK_SPACE, lock_key(name)),
    ).fetchone()
    return bool(row and row[0])


def in_use(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    """Whether a session is connected to `name`: its creator's lock may be gone while the run
    is not (a server that ends idle sessions, `idle_session_timeout`, ends the lock's too)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
    ).fetchone()
    return bool(row and row[0])


def database_url(server_url: str, name: str) -> str:
    """`server_url` with its database replaced by `name`."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def shown(url: str) -> str:
    """`url` without its password (in the user part or a `password=` parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def first_line(error: Exception, url: str = "") -> str:
    """The driver's message, first line only, with the URL's password (if any) blanked out."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    password = urlsplit(url).password if url else None
    return line.replace(password, "***") if password else line
