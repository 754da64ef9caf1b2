"""Throwaway databases on the real server: created and always dropped, also after an exception
and Ctrl-C; after kill -9 left behind and dropped by the next run; a live run's database and
databases not named like ours never touched. Real child processes hold the throwaways."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from ci.core.errors import UsageError
from ci.db.outcomes import CannotRun
from ci.db.postgres.throwaway import (
    clean_leftovers,
    held_elsewhere,
    in_use,
    is_ours,
    shown,
    throwaway,
)
from tests.pg import database_url

# A child that creates a throwaway on the server URL it is given, prints its URL and waits.
HOLDER = """
import sys, time
from ci.db.postgres.throwaway import throwaway
with throwaway(sys.argv[1]) as url:
    print(url, flush=True)
    time.sleep(120)
"""


def database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        return bool(row.fetchone() == (1,))


def as_role(server_url: str, role: str, password: str) -> str:
    parts = urlsplit(server_url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return parts._replace(netloc=f"{role}:{password}@{host}").geturl()


def wait_for_lock_release(server_url: str, name: str) -> None:
    """Wait until no session holds `name`'s lock: the server ends a killed client's session a
    moment after the process is gone, not at once."""
    deadline = time.monotonic() + 10
    with psycopg.connect(server_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if not held_elsewhere(conn, name):
                return
            time.sleep(0.02)
    raise AssertionError(f"the lock of {name} is still held 10 s after its creator died")


def wait_for_no_sessions(server_url: str, name: str) -> None:
    deadline = time.monotonic() + 10
    with psycopg.connect(server_url, autocommit=True) as conn:
        while in_use(conn, name):
            assert time.monotonic() < deadline, f"sessions on {name} 10 s after they closed"
            time.sleep(0.02)


def name_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class Holder:
    """A real child process holding a throwaway database."""

    def __init__(self, server_url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, server_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line, f"the holder printed no URL: {self.process.communicate()[1]}"
        self.name = name_of(line)

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        if holder.process.poll() is None:
            holder.stop(signal.SIGINT)


def test_created_empty_and_dropped(pg_server_url: str) -> None:
    with throwaway(pg_server_url) as url:
        name = name_of(url)
        assert is_ours(name)
        assert database_exists(pg_server_url, name)
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public'"
            ).fetchone()
            assert conn.info.dbname == name
        assert tables == (0,)
    assert not database_exists(pg_server_url, name)


def test_commits_on_it_never_wait_for_a_flush_even_after_reset_all(pg_server_url: str) -> None:
    # the runner's RESET ALL between migrations returns to the database's default, not to
    # a session's SET: the throwaway's own default keeps every migration's commit unflushed
    with throwaway(pg_server_url) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = on")
        conn.execute("RESET ALL")
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
    with psycopg.connect(pg_server_url) as other:  # the throwaway's, not the server's
        assert other.execute("SHOW synchronous_commit").fetchone() != ("off",)


def test_dropped_although_a_connection_is_still_open(pg_server_url: str) -> None:
    with throwaway(pg_server_url) as url:
        left_open = psycopg.connect(url)
    assert not database_exists(pg_server_url, name_of(url))
    left_open.close()


def test_dropped_after_an_exception(pg_server_url: str) -> None:
    with pytest.raises(ZeroDivisionError), throwaway(pg_server_url) as url:
        1 / 0  # noqa: B018
    assert not database_exists(pg_server_url, name_of(url))


def test_dropped_after_ctrl_c_to_the_creating_process(
    pg_server_url: str, holders: list[Holder]
) -> None:
    holder = Holder(pg_server_url)
    holders.append(holder)
    assert database_exists(pg_server_url, holder.name)
    assert holder.stop(signal.SIGINT) != 0  # KeyboardInterrupt, after the finally ran
    assert not database_exists(pg_server_url, holder.name)


def test_left_by_kill_9_then_dropped_by_the_next_clean(pg_server_url: str) -> None:
    holder = Holder(pg_server_url)
    assert holder.stop(signal.SIGKILL) == -signal.SIGKILL
    assert database_exists(pg_server_url, holder.name)  # no finally ran
    wait_for_lock_release(pg_server_url, holder.name)
    assert holder.name in clean_leftovers(pg_server_url)
    assert not database_exists(pg_server_url, holder.name)


def test_the_next_throwaway_drops_a_killed_runs_database_and_says_so(pg_server_url: str) -> None:
    holder = Holder(pg_server_url)
    holder.stop(signal.SIGKILL)
    wait_for_lock_release(pg_server_url, holder.name)
    said: list[str] = []
    with throwaway(pg_server_url, notice=said.append) as url:
        assert not database_exists(pg_server_url, holder.name)
        assert database_exists(pg_server_url, name_of(url))
    assert len(said) == 1 and holder.name in said[0], said


def test_a_live_runs_database_is_not_dropped(pg_server_url: str, holders: list[Holder]) -> None:
    holder = Holder(pg_server_url)
    holders.append(holder)
    assert holder.name not in clean_leftovers(pg_server_url)
    assert database_exists(pg_server_url, holder.name)


def test_a_live_run_on_another_maintenance_database_is_not_dropped(
    pg_server_url: str, pg_database_url: str, holders: list[Holder]
) -> None:
    # the holder's lock lives in another database than the cleaner's: found through pg_locks
    holder = Holder(pg_database_url)
    holders.append(holder)
    assert holder.name not in clean_leftovers(pg_server_url)
    assert database_exists(pg_server_url, holder.name)
    holder.stop(signal.SIGINT)
    assert not database_exists(pg_server_url, holder.name)


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("mg_20261206090000_0123abcd", True),
        ("mgx_other", False),
        ("mg_", False),
        ("mg_20261206090000_0123ABCD", False),  # upper-case hex: not how we spell it
        ("mg_20261206090000_0123abcde", False),
        ("mg_2026120609000_0123abcd", False),
        ("mg_20261206090000_0123abcd_x", False),
        ("mgtest_20261206090000_0123abcd", False),
        ("xmg_20261206090000_0123abcd", False),
        ("mg_keep", False),
    ],
)
def test_only_names_made_by_throwaway_are_ours(name: str, ours: bool) -> None:
    assert is_ours(name) is ours


def test_databases_not_named_like_ours_are_never_touched(pg_server_url: str) -> None:
    suffix = os.urandom(3).hex()
    # two real databases (each CREATE DATABASE costs a second on a busy server); the other
    # near misses are in test_only_names_made_by_throwaway_are_ours
    names = [f"mgx_other_{suffix}", f"mg_20261206090000_{suffix.upper()}AB"]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        try:
            cleaned = clean_leftovers(pg_server_url)
            assert not set(names) & set(cleaned)
            assert all(database_exists(pg_server_url, name) for name in names)
        finally:
            for name in names:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(drop.format(sql.Identifier(name)))


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/postgres"
    with pytest.raises(CannotRun) as raised, throwaway(url):
        pass  # pragma: no cover - never reached
    message = str(raised.value)
    assert isinstance(raised.value, UsageError)  # the faces: one line, exit 2
    assert "\n" not in message
    assert "s3cret" not in message
    assert message.startswith("cannot connect to the PostgreSQL server postgresql://postgres@")


def test_a_url_that_is_not_postgresql_is_one_line() -> None:
    with pytest.raises(CannotRun, match="expected a URL postgresql://"), throwaway("mysql://x/y"):
        pass  # pragma: no cover - never reached


def test_a_role_without_createdb_is_one_line(pg_server_url: str) -> None:
    role = f"mgtest_role_{os.urandom(4).hex()}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
        try:
            url = as_role(pg_server_url, role, "pw")
            with pytest.raises(CannotRun) as raised, throwaway(url):
                pass  # pragma: no cover - never reached
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    message = str(raised.value)
    assert "no CREATEDB privilege" in message and role in message
    assert ":pw@" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:secret@h:5432/d", "postgresql://u@h:5432/d"),
        (
            "postgresql://u@h/d?sslmode=require&password=secret",
            "postgresql://u@h/d?sslmode=require",
        ),
        ("postgresql://h/d", "postgresql://h/d"),
        ("postgresql://u:p%40ss@h/d", "postgresql://u@h/d"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, expected: str) -> None:
    assert shown(url) == expected


def test_the_url_names_the_new_database_on_the_same_server(pg_server_url: str) -> None:
    with throwaway(pg_server_url) as url:
        assert url == database_url(name_of(url))


def test_a_leftover_someone_is_connected_to_is_not_dropped(pg_server_url: str) -> None:
    # named like ours and with no lock holder (as if the server had ended the creator's idle
    # maintenance session), but a session still uses it: the run may be alive
    name = f"mg_20261206090000_{os.urandom(4).hex()}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        with psycopg.connect(database_url(name)):
            assert name not in clean_leftovers(pg_server_url)
            assert database_exists(pg_server_url, name)
        wait_for_no_sessions(pg_server_url, name)
        assert name in clean_leftovers(pg_server_url)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def test_a_drop_not_waited_for_is_finished_by_the_server_and_no_leftover_meanwhile(
    pg_server_url: str,
) -> None:
    with throwaway(pg_server_url, wait=False) as url:
        name = name_of(url)
    # the server goes on with the DROP its client hung up on; its lock stays held until it
    # is done, so a cleaning run does not touch it meanwhile
    assert name not in clean_leftovers(pg_server_url)
    deadline = time.monotonic() + 30
    while database_exists(pg_server_url, name):
        assert time.monotonic() < deadline, f"{name} still exists 30 s after the check ended"
        time.sleep(0.02)


def test_a_drop_not_waited_for_is_still_waited_for_after_an_exception(pg_server_url: str) -> None:
    with pytest.raises(ZeroDivisionError), throwaway(pg_server_url, wait=False) as url:
        1 / 0  # noqa: B018
    assert not database_exists(pg_server_url, name_of(url))
