"""--statement-timeout on PostgreSQL: a deadline for a whole migration (or rollback), kept by
the runner itself. A server-side statement_timeout alone limits each statement, and a file's
`SET statement_timeout = 0`, `RESET ALL` or a function's set_config would switch it off; a
timer in the runner cannot be switched off by the SQL it runs. When it fires, it cancels the
running statement through the connection's cancel request (as Ctrl-C in psql does) and the
runner reports the statement that was running, as a Runaway.
"""

from __future__ import annotations

import threading
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
        self._timer = None if seconds is None else threading.Timer(seconds, self._expire)

    def __enter__(self) -> Deadline:
        if self._timer is not None:
            self._open = True
            self._timer.daemon = True  # never keeps the process alive
            self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            with self._guard:  # waits for a cancel being sent: it arrives before we go on
                self._open = False
            self._timer.cancel()
        if self.expired and not self.cancelled:
            self._absorb_cancel()

    def _absorb_cancel(self) -> None:
        """A cancel that reached the server as a statement ended may stop the next one sent,
        which would be the runner's own bookkeeping: send one to take it (a transaction it
        fails is rolled back: the migration is stopped anyway)."""
        with suppress(psycopg.Error):
            self.conn.execute("SELECT 1")

    def _expire(self) -> None:
        with self._guard:
            if not self._open:
                return
            self.expired = True
            # a connection already gone: the main thread sees that itself
            with suppress(psycopg.Error, OSError):
                self.conn.cancel_safe(timeout=CANCEL_WAIT)
