"""How a run of the runner ends: an Outcome per migration, or one of the exceptions here.

MigrationFailed (and Runaway) is about the user's SQL, a finding; RunRefused stops a run before
any change; CannotRun is about the database file itself (not SQLite, read-only, locked).
"""

from __future__ import annotations

from pathlib import Path

from ci.core.errors import UsageError
from ci.core.findings import Record
from ci.core.model import Migration


class MigrationFailed(Exception):
    """A migration (or rollback) failed and was rolled back: `path:line: message`."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        # a @no-transaction or @batch migration is not rolled back: what of it stays committed
        # ("0002 is a @batch migration; its finished batches (10 rows) stay committed")
        self.left_dirty: str | None = None
        # with --group: the group rolled back with it ("0003..0007 (0003_a.sql, ...)")
        self.group: str | None = None
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class Runaway(MigrationFailed):
    """A migration that would not end: still running after --statement-timeout (interrupted
    and rolled back), or a @batch that keeps changing rows it already changed."""

    def __init__(self, path: Path | str, line: int | None, message: str, hint: str) -> None:
        super().__init__(path, line, message)
        self.hint = hint


class RunRefused(Exception):
    """The run stops before changing anything: edited files, dirty marks, bad input, ..."""


class CannotRun(UsageError):
    """The database cannot be used at all: not SQLite, read-only, locked, missing directory."""


def whole_ms(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded to the nearest (half up): the one rule for every
    time the runner shows or records (apply lines, --status, schema_version, JSON), so that
    they agree; `execution_time_ms` columns are INTEGER."""
    return int(seconds * 1000 + 0.5)


class Outcome(Record):
    """What happened to one migration: action is 'applied', 'rolled back', 'skipped' (another
    runner applied it first) or, in a dry run, 'would apply' / 'would roll back'.

    A plain record, not a frozen dataclass: one is made per migration (the performance budgets
    measure the per-migration cost of ci.migrate and ci.apply_empty)."""

    FIELDS = ("migration", "action", "rows", "seconds")
    __slots__ = FIELDS

    def __init__(self, migration: Migration, action: str, rows: int, seconds: float) -> None:
        self.migration = migration
        self.action = action
        self.rows = rows
        self.seconds = seconds


def runaway(path: Path | str, line: int | None, seconds: float | None) -> Runaway:
    """The finding for the user's SQL still running after --statement-timeout."""
    return Runaway(
        path,
        line,
        f"still running after --statement-timeout {seconds or 0:g} s; stopped (a statement "
        "that never ends, such as a recursive CTE without a stop, or one slower than the limit)",
        "make it end (a recursive CTE needs a WHERE that stops it), or raise "
        "--statement-timeout if it is only slow",
    )
