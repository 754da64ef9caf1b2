"""The options every database check takes, as data (`OPTIONS`), and the record they become
(`Options`) once parsed.
"""

from __future__ import annotations

from pathlib import Path

from ci.checks import options
from ci.checks.options import Option
from ci.core.findings import Record

# generous: a check's migrations run on small data; a runaway one must not hang CI for hours
DEFAULT_STATEMENT_TIMEOUT = 300.0


class Options(Record):
    """The options every database check takes (treat as immutable).

    A plain record, not a dataclass: `import dataclasses` costs ~13 ms of every database
    check's start-up, which the performance budgets (docs/design.md) measure as a whole process
    (ci.apply_empty)."""

    FIELDS = (
        "setup",
        "invariants",
        "snapshot",
        "write_snapshot",
        "warn_slow",
        "busy_timeout",
        "statement_timeout",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        setup: str | None,
        invariants: Path | None,
        snapshot: Path | None,
        write_snapshot: bool,
        warn_slow: float,
        busy_timeout: float = 30.0,  # how long to wait for another process's lock on a sample
        statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,  # per migration; None: none
    ) -> None:
        self.setup = setup
        self.invariants = invariants
        self.snapshot = snapshot
        self.write_snapshot = write_snapshot
        self.warn_slow = warn_slow
        self.busy_timeout = busy_timeout
        self.statement_timeout = statement_timeout


SETUP = Option(
    "--setup",
    metavar="MODULE:FUNCTION",
    default=None,
    help="callable run on every connection (register SQL functions, load extensions)",
)


def statement_timeout_option() -> Option:
    """`--statement-timeout`: a migration still running after this long is stopped (MG311)."""
    return options.statement_timeout(
        default=DEFAULT_STATEMENT_TIMEOUT,
        help="stop a migration (or rollback) still running after this long and report it "
        f"(MG311; default: {DEFAULT_STATEMENT_TIMEOUT:g}; 0: no limit)",
    )


def busy_timeout_option() -> Option:
    """`--busy-timeout`, as `python -m ci.migrate` has it: how long reading the user's database
    (a `--sample` .db) waits for another process's lock before giving up with exit 2."""
    return options.busy_timeout(
        default=30.0,
        help="wait this long for another process's lock on a --sample database (default: 30)",
    )


# The options every database check takes (apply_empty, apply_sample), in their --help order.
OPTIONS = (
    SETUP,
    options.INVARIANTS,
    Option(
        "--schema-snapshot",
        type=Path,
        default=None,
        metavar="FILE",
        help="the schema the migrations must produce (e.g. schema/schema.sql)",
    ),
    Option(
        "--write-snapshot",
        action="store_true",
        help="write the schema the migrations produce to --schema-snapshot instead of comparing",
    ),
    Option(
        "--warn-slow",
        type=options.seconds,
        default=300.0,
        metavar="SECONDS",
        help="flag migrations slower than this (default 300)",
    ),
    statement_timeout_option(),
)
