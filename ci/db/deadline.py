"""--statement-timeout: the user's SQL is interrupted once it runs past its deadline; and Ctrl-C
stops a running statement, with or without a timeout.

SQLite calls a progress handler every PROGRESS_STEPS virtual-machine steps; it interrupts the
running statement when the deadline has passed. The deadline is armed only while the user's SQL
runs (a migration's statements, a fixture, a @progress query), never during the runner's own
bookkeeping, so that is never interrupted halfway.

Without a timeout the handler is installed all the same, every UNTIMED_STEPS steps: SQLite runs
a statement without returning to Python, so Python's SIGINT handler (KeyboardInterrupt) gets to
run only when something calls back into Python. The callback is where Ctrl-C is raised; SQLite
then interrupts the statement and raise_interrupted turns that back into KeyboardInterrupt
(rolled back, exit 130) instead of holding the write lock until the statement ends.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ci.db.outcomes import runaway

# With a --statement-timeout, SQLite calls back every this many virtual-machine steps (well
# under a millisecond) to see whether the migration ran past its deadline. Measured on a
# statement that is nothing but VM steps (a 2,000,000-row recursive CTE): under 1% slower;
# 1,000 steps cost ~3%. A migration of ordinary size never reaches one callback.
PROGRESS_STEPS = 10_000
# Without one, only for Ctrl-C: coarse (a few milliseconds of pure VM steps between callbacks,
# under any reaction time a person notices). Measured with callgrind on applying 1,000
# migrations: see docs/benchmarks.md.
UNTIMED_STEPS = 100_000


class Clock:
    """Each migration's deadline on one connection (set when it starts), and the one SQLite's
    progress handler compares with, armed only while the migration's own SQL runs."""

    __slots__ = ("deadline", "migration_deadline", "seconds")

    def __init__(self, conn: sqlite3.Connection, seconds: float | None) -> None:
        self.seconds = seconds
        self.migration_deadline = math.inf
        self.deadline = math.inf
        conn.set_progress_handler(self.past_deadline, PROGRESS_STEPS if seconds else UNTIMED_STEPS)

    def start(self) -> None:
        """A migration starts: with --statement-timeout, its deadline is set from now."""
        if self.seconds:
            self.migration_deadline = time.monotonic() + self.seconds

    def arm(self) -> None:
        """The user's SQL runs from now on: the progress handler may interrupt it."""
        self.deadline = self.migration_deadline

    def disarm(self) -> None:
        self.deadline = math.inf

    @contextmanager
    def limited(self, path: Path | str, line: int | None) -> Iterator[None]:
        """The user's SQL that the runner's connection runs besides a migration's statements (a
        sample fixture, a @progress query): under the same --statement-timeout, counted from
        the last start(); past it, Runaway naming `path:line`."""
        self.arm()
        try:
            yield
        except sqlite3.OperationalError as error:
            if str(error) != "interrupted":
                raise
            self.raise_interrupted(path, line)
        finally:
            self.disarm()

    def past_deadline(self) -> bool:
        """SQLite's progress handler: True interrupts the running statement."""
        return time.monotonic() > self.deadline

    def raise_interrupted(self, path: Path | str, line: int | None) -> None:
        """A statement was interrupted: by the deadline (Runaway), or by Ctrl-C, which the
        progress handler swallows (a Python callback cannot raise through SQLite)."""
        if time.monotonic() <= self.deadline:
            raise KeyboardInterrupt from None
        raise runaway(path, line, self.seconds) from None


@contextmanager
def time_limited(
    conn: sqlite3.Connection, seconds: float | None, path: Path | str, line: int | None
) -> Iterator[None]:
    """The user's SQL on a connection no Runner drives (an invariant a check runs on its
    database after the migrations): stopped after `seconds` (None: no limit) as a migration
    would be, with Runaway naming `path:line`. Fetch the rows inside the block."""
    if not seconds:
        yield
        return
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
    try:
        yield
    except sqlite3.OperationalError as error:
        if str(error) != "interrupted":
            raise
        if time.monotonic() <= deadline:
            raise KeyboardInterrupt from None  # Ctrl-C, swallowed by the progress handler
        raise runaway(path, line, seconds) from None
    finally:
        conn.set_progress_handler(None, 0)
