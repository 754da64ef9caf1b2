"""The PostgreSQL server bench/pg.py measures on: its facts, and the bench's own databases.

Every database the bench creates is named `mgbench_<pid>_<role>` (the pid of the bench process
that made it), recreated empty before each timed run that needs a fresh one, and dropped when
the bench ends. A bench that was killed cannot drop anything: the next one drops every
`mgbench_` database whose pid is no longer a running process here and that nobody is connected
to, and says so in one line. Nothing else on the server is ever touched (the checks measured
make and drop their own `mg_...` throwaway databases).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "mgbench_"
NAME = re.compile(rf"{PREFIX}(\d+)_[a-z_]+")
# the server settings that decide what a commit costs, recorded with the run
SETTINGS = ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers")


def default_url() -> str:
    """The tests' server (MIGRATION_GUARD_TEST_PG) unless told otherwise: the same machine's."""
    return os.environ.get("MIGRATION_GUARD_TEST_PG") or DEFAULT_URL


def database_url(server_url: str, name: str) -> str:
    """The server URL with its database replaced by `name`."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def shown(url: str) -> str:
    """A URL as the results show it: without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Server:
    """One autocommit connection to the server URL's database, for the bench's housekeeping."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        self.made: set[str] = set()
        self.create_seconds: list[float] = []  # each CREATE DATABASE, for the notes

    def name(self, role: str) -> str:
        return f"{PREFIX}{os.getpid()}_{role}"

    def fresh(self, role: str) -> str:
        """(Re)create this run's database for `role`, empty; its URL."""
        name = self.name(role)
        self.drop(name)
        started = time.perf_counter()
        self.conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
        )
        self.create_seconds.append(time.perf_counter() - started)
        self.made.add(name)
        return database_url(self.url, name)

    def drop(self, name: str) -> None:
        self.conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        self.made.discard(name)

    def drop_ours(self) -> list[str]:
        """Drop every database this run made, on a new connection (a signal may have stopped
        the old one in the middle of a statement); the names that could not be dropped."""
        left = []
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                for name in sorted(self.made):
                    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                    conn.execute(drop.format(sql.Identifier(name)))
                    self.made.discard(name)
        except psycopg.Error:
            left = sorted(self.made)  # the next run drops them (drop_leftovers)
        return left

    def drop_leftovers(self) -> list[str]:
        """Drop the databases of benches that are gone (their pid is not running here and no
        session is connected to them); the names dropped."""
        rows = self.conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'mgbench\\_%' AND NOT EXISTS"
            " (SELECT 1 FROM pg_stat_activity a WHERE a.datname = pg_database.datname)"
        ).fetchall()
        dropped = []
        for (name,) in rows:
            match = NAME.fullmatch(name)
            if match and not _running(int(match.group(1))):
                self.drop(name)
                dropped.append(name)
        return dropped

    def facts(self) -> list[tuple[str, str]]:
        """(label, value) rows for the machine table: the server's version and commit settings."""
        (version,) = self.conn.execute("SELECT version()").fetchone() or ("?",)
        values = [f"{name} = {self.show(name)}" for name in SETTINGS]
        host = urlsplit(self.url).hostname or "local socket"
        return [
            ("PostgreSQL server", str(version).split(" on ")[0]),
            ("server URL", f"{shown(self.url)} (host {host})"),
            ("server settings", ", ".join(values)),
            ("psql", _psql_version()),
            ("psycopg", psycopg.__version__),
        ]

    def show(self, setting: str) -> str:
        row = self.conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()
        return str(row[0]) if row else "?"

    def close(self) -> None:
        self.conn.close()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _psql_version() -> str:
    try:
        done = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    return done.stdout.strip() or "not found"
