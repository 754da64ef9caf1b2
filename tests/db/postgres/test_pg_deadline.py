"""The --statement-timeout watchdog on a real server: one thread keeps every deadline, woken
only when a new deadline is due before it would wake anyway; each deadline still cancels the
statement running when it is due (a pg_sleep(5) far past it)."""

from __future__ import annotations

import psycopg
import pytest

from ci.db.postgres.deadline import Deadline

pytestmark = pytest.mark.postgresql


def slept_through(conn: psycopg.Connection[tuple[object, ...]], seconds: float) -> bool:
    """Whether pg_sleep(5) ran to its end under a deadline of `seconds`."""
    with Deadline(conn, seconds) as deadline:
        try:
            conn.execute("SELECT pg_sleep(5)")
        except psycopg.errors.QueryCanceled:
            conn.rollback()
            return False
    assert not deadline.expired
    return True


def test_a_sooner_deadline_wakes_the_watchdog_sleeping_for_a_later_one(
    pg_database_url: str,
) -> None:
    with psycopg.connect(pg_database_url) as conn:
        with Deadline(conn, 600):  # the watchdog now sleeps until it is due
            conn.execute("SELECT 1")
        assert not slept_through(conn, 0.2)


def test_a_later_deadline_fires_after_a_disarmed_sooner_one_without_a_wake_up(
    pg_database_url: str,
) -> None:
    with psycopg.connect(pg_database_url) as conn:
        with Deadline(conn, 0.1):  # disarmed at once; the watchdog still sleeps until then
            conn.execute("SELECT 1")
        assert not slept_through(conn, 0.4)  # armed without waking it: it must still fire
        assert not slept_through(conn, 0.3)
