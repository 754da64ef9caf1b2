"""The Check type: what a check is to the app layer that runs it.

A check has a name (`ci.<name>` is its face), the description its `--help` shows, the options it
declares (`ci.checks.options.Option` records: its config keys are their dests), and `run`, which
takes the parsed options and returns a `Report`, printing nothing. The app layer parses, applies
the config file, runs, prints, writes reports and decides the exit code.
"""

from __future__ import annotations

from collections.abc import Callable

from ci.checks.options import Option
from ci.core.findings import Report

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any

    # The parsed options a check receives (an argparse Namespace; a check may turn it into its
    # own record at once, as the database checks do with `ci.checks.db_options.Options`).
    Parsed = Any


class Check:
    """One check. A plain class: numbering's and checksums' start-up is budgeted.

    `narrow(options)` (optional) runs after parsing and before the FILES shortcut, for a check
    to which more than migrations count (checksums: the lock file)."""

    __slots__ = ("description", "name", "narrow", "options", "reads_migrations", "run")

    def __init__(
        self,
        name: str,
        description: str | None,
        options: tuple[Option, ...],
        run: Callable[[Parsed], Report],
        *,
        narrow: Callable[[Parsed], None] | None = None,
        reads_migrations: bool = True,
    ) -> None:
        self.name = name
        self.description = description
        self.options = options
        self.run = run
        self.narrow = narrow
        self.reads_migrations = reads_migrations

    @property
    def config_keys(self) -> set[str]:
        """The keys a config file may set for this check: the dests of its options."""
        return {option.dest for option in self.options}

    def declares(self, flag: str) -> bool:
        """Whether the check takes `flag` (e.g. `--base-ref`)."""
        return any(flag in option.flags for option in self.options)

    def __repr__(self) -> str:
        return f"Check({self.name!r})"
