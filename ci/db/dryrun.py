"""The dry run: the plan run for real on a private copy of the database; nothing here changes.

The copy (SQLite's backup API, into a temporary directory deleted afterwards) goes through the
very code a real run uses: one transaction per migration, a leading PRAGMA foreign_keys honoured
outside it, foreign_key_check only where keys were off, dirty marks for @batch and
@no-transaction. One transaction around the whole plan could do none of that, so its verdict
differed; now the dry run fails if and only if the real run would, on the same file and line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ci.db.connection import connect, forbid_attach
from ci.db.outcomes import CannotRun, MigrationFailed, Outcome

if TYPE_CHECKING:
    from ci.core.model import Migration

# what a real run's outcome is called in a dry run
DRY_ACTIONS = {"applied": "would apply", "rolled back": "would roll back"}
DRY_RUN_PREFIX = "migration-guard-dry-run-"

OnOutcome = Callable[[Outcome], None]


class Rehearsal(Protocol):
    """What the dry run asks of a runner on the copy (ci.db.runner.Runner is one)."""

    def migrate(
        self,
        target: int | None = None,
        *,
        resume: bool = False,
        on_outcome: OnOutcome | None,
        group: bool = False,
        on_group: Callable[[list[Outcome], float], None] | None = None,
    ) -> list[Outcome]: ...

    def rollback_to(
        self, version: int, *, on_outcome: OnOutcome | None, plan: list[Migration] | None
    ) -> list[Outcome]: ...


def rehearse(
    conn: sqlite3.Connection,
    name: str,
    twin: Callable[[sqlite3.Connection], Rehearsal],
    *,
    target: int | None,
    rollback_to: int | None,
    rollback_plan: list[Migration] | None = None,
    on_outcome: OnOutcome | None,
    setup: str | None,
    timeout: float,
    group: bool = False,
    on_group: Callable[[list[Outcome], float], None] | None = None,
) -> tuple[list[Outcome], MigrationFailed | None]:
    """Copy `conn`'s database, make `twin(copy)` and run the plan with it: the outcomes ('would
    apply' / 'would roll back') and the first failure (after which nothing more is tried).
    `setup` is the --setup callable, run on the copy's connection as on the real one; `group`:
    grouped as the real run (ci.db.group), so a group fails here as it would there."""
    outcomes: list[Outcome] = []

    def seen(outcome: Outcome) -> None:
        action = DRY_ACTIONS.get(outcome.action, outcome.action)
        dry = Outcome(outcome.migration, action, outcome.rows, outcome.seconds)
        outcomes.append(dry)
        if on_outcome is not None:
            on_outcome(dry)

    with private_copy(conn, name) as copy:
        copied = connect(copy, setup=setup, timeout=timeout)
        try:
            copied.execute("PRAGMA synchronous = OFF")  # deleted afterwards: no fsync needed
            # the one place the dry run differs: ATTACH and VACUUM INTO would create or change
            # files outside the copy, so they fail here (in a transaction they fail anyway)
            forbid_attach(copied)
            runner = twin(copied)
            try:
                if rollback_to is not None:
                    runner.rollback_to(rollback_to, on_outcome=seen, plan=rollback_plan)
                else:
                    runner.migrate(target, on_outcome=seen, group=group, on_group=on_group)
            except MigrationFailed as failure:
                return outcomes, failure
        finally:
            copied.close()
    return outcomes, None


@contextmanager
def private_copy(conn: sqlite3.Connection, name: str) -> Iterator[Path]:
    """A copy of the connection's main database in a new temporary directory (the system's,
    or TMPDIR), removed with everything in it when the block ends, whatever happens.

    Refused with one line when that directory lacks room for the copy, before writing."""
    import shutil  # only a dry run needs these (start-up time of every command)

    from ci.core.scratch_dir import scratch_directory

    size = database_size(conn)
    with scratch_directory(DRY_RUN_PREFIX) as tmp:
        free = shutil.disk_usage(tmp).free
        if size > free:
            raise CannotRun(
                f"{name}: the dry run works on a private copy ({size / 1e6:,.0f} MB) in "
                f"{Path(tmp).parent}, which has {free / 1e6:,.0f} MB free; point TMPDIR at a "
                "directory with room"
            )
        path = Path(tmp) / "dry-run.db"
        try:
            target = sqlite3.connect(path)
            try:
                conn.backup(target)
            finally:
                target.close()
        except sqlite3.Error as error:
            raise CannotRun(f"{name}: cannot copy the database for the dry run: {error}") from None
        yield path


def database_size(conn: sqlite3.Connection) -> int:
    """Bytes of the main database as this connection sees it (what a backup copies)."""
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    return pages * int(conn.execute("PRAGMA page_size").fetchone()[0])
