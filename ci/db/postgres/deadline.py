"""--statement-timeout on PostgreSQL: a deadline for a whole migration (or rollback), kept by
the runner itself. A server-side statement_timeout alone limits each statement, and a file's
`SET statement_timeout = 0`, `RESET ALL` or a function's set_config would switch it off; a
timer in the runner cannot be switched off by the SQL it runs. When it fires, it cancels the
running statement through the connection's cancel request (as Ctrl-C in psql does) and the
runner reports the statement that was running, as a Runaway.

One watchdog thread keeps every deadline of the process: a thread started per migration made
each migration wait until the new thread had run (`Thread.start`), a scheduler's delay that a
busy machine stretches to milliseconds.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from types import TracebackType

import psycopg

from ci.db.postgres.connect import PgConnection

CANCEL_WAIT = 10.0  # seconds the cancel request may take to reach the server


class Deadline:
    """`with Deadline(conn, seconds) as deadline:` cancels what runs on `conn` once `seconds`
    have passed (never, for None); `expired` tells afterwards. Once the block is left, no
    cancel is sent any more (a late one would hit the runner's own bookkeeping)."""

    def __init__(self, conn: PgConnection, seconds: float | None) -> None:
        self.conn = conn
        self.expired = False
        self.cancelled = False  # the runner saw the cancel stop a statement (it is used up)
        self._guard = threading.Lock()  # the cancel and the block's end never cross
        self._open = False
        self._seconds = seconds

    def __enter__(self) -> Deadline:
        if self._seconds is not None:
            self._open = True
            WATCHDOG.arm(self, self._seconds)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._seconds is not None:
            with self._guard:  # waits for a cancel being sent: it arrives before we go on
                self._open = False
            WATCHDOG.disarm(self)
        if self.expired and not self.cancelled:
            self._absorb_cancel()

    def _absorb_cancel(self) -> None:
        """A cancel that reached the server as a statement ended may stop the next one sent,
        which would be the runner's own bookkeeping: send one to take it (a transaction it
        fails is rolled back: the migration is stopped anyway)."""
        with suppress(psycopg.Error):
            self.conn.execute("SELECT 1")

    def expire(self) -> None:
        """The time is up (called by the watchdog's thread)."""
        with self._guard:
            if not self._open:
                return
            self.expired = True
            # a connection already gone: the main thread sees that itself
            with suppress(psycopg.Error, OSError):
                self.conn.cancel_safe(timeout=CANCEL_WAIT)


class Watchdog:
    """One daemon thread that expires each armed Deadline when its time is up."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """No deadline and no thread (also in a child process: it has no copy of the thread)."""
        self._due: dict[Deadline, float] = {}  # deadline -> time.monotonic() it expires at
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._sleeps_until = float("inf")  # when the thread wakes by itself

    def arm(self, deadline: Deadline, seconds: float) -> None:
        with self._wake:
            self._due[deadline] = time.monotonic() + seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadline", daemon=True)
                self._thread.start()  # once per process: the daemon never keeps it alive
            # Woken only when this one is due before the thread wakes anyway: one migration
            # after another each arms a later deadline than the one before it (disarmed, but
            # still what the thread sleeps until), so the thread is not woken per migration
            # (a wake-up is a thread switch, costly on a busy machine); it wakes at that
            # earlier time, finds nothing due and sleeps until the next.
            if self._due[deadline] < self._sleeps_until:
                self._wake.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._wake:
            self._due.pop(deadline, None)

    def _run(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                late = [deadline for deadline, at in self._due.items() if at <= now]
                for deadline in late:
                    del self._due[deadline]
                if not late:
                    self._sleeps_until = min(self._due.values(), default=now + 3600)
                    self._wake.wait(self._sleeps_until - now)
                    self._sleeps_until = float("-inf")  # awake: it reads _due before it sleeps
                    continue
            for deadline in late:  # outside the lock: a cancel may take seconds
                deadline.expire()


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.forget)  # a child (--jobs) starts its own
