"""What the deploy command says about a database, whichever engine's runner holds it: where the
database is now, the dirty marks a --force-clean cleared, a dry run's plan and verdict
(ci.db.deploy and ci.db.postgres.deploy both print through these)."""

from __future__ import annotations

from ci.db import bookkeeping

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol, TextIO

    from ci.core.model import Catalog, Migration
    from ci.db.outcomes import MigrationFailed, Outcome
    from ci.db.records import AppliedRow, DirtyMark
    from ci.db.runlog import RunLog

    class Deployed(Protocol):
        """What the deploy command's reports ask of a runner, SQLite's or PostgreSQL's."""

        catalog: Catalog

        def applied(self) -> list[AppliedRow]: ...

        def force_clean(self) -> list[DirtyMark]: ...

        def rollback_to(
            self, version: int, *, on_outcome: Callable[[Outcome], None] | None = ...,
            plan: list[Migration] | None = ...,
        ) -> list[Outcome]: ...  # fmt: skip

    class Planner(Protocol):
        """What a dry run asks of a runner to make its plan."""

        def rollback_plan(self, version: int) -> list[Migration]: ...

        def preflight(self, target: int | None = ...) -> list[Migration]: ...

    class Applier(Deployed, Protocol):
        """What applying through ci.db.deploy.migrate_and_report asks of a runner."""

        def migrate(
            self, target: int | None = ..., *, resume: bool = ...,
            on_outcome: Callable[[Outcome], None] | None = ..., group: bool = ...,
            on_group: Callable[[list[Outcome], float], None] | None = ...,
        ) -> list[Outcome]: ...  # fmt: skip


def database_at(runner: Deployed) -> str:
    """Where the database is now: '0003 (head 0005, seeds seed-0001..seed-0002)'."""
    rows = runner.applied()
    seeds = [r.label for r in rows if r.track == "seed"]
    seeded = ""
    if seeds:
        seeded = f", seed {seeds[0]}" if len(seeds) == 1 else f", seeds {seeds[0]}..{seeds[-1]}"
    return f"{bookkeeping.head_version(rows):04d} (head {runner.catalog.head:04d}{seeded})"


def force_clean(runner: Deployed, *, out: TextIO) -> bool:
    """Clear the dirty marks; the migrations they name stay not applied."""
    marks = runner.force_clean()
    if not marks:
        print("no dirty marks; nothing to clean", file=out)
        return False
    for mark in marks:
        print(
            f"cleared dirty mark for {mark.label} {mark.description} ({mark.rows_done:,} rows "
            "done); it is still not applied: make sure the database is as you want it, then "
            "run migrate again",
            file=out,
        )
    return False


def dry_plan(
    runner: Planner, up_to: int | None, rollback: int | None, out: TextIO, log: RunLog | None
) -> list[Migration] | None:
    """What a dry run rehearses: the rollback's steps (`rollback`: N) or the pending
    migrations; None when a rollback has nothing to do (said, as the real rollback says it)."""
    if rollback is not None:
        plan = runner.rollback_plan(rollback)
        if not plan:  # as the real rollback: nothing to do, whatever else the database holds
            print(f"nothing to roll back: no applied migration >= {rollback:04d}", file=out)
            return None
    else:
        plan = runner.preflight(up_to)
    if log is not None:
        log.planned = plan
    return plan


def show_dry_plan(plan: list[Migration], out: TextIO, *, rollback: bool = False) -> None:
    """The dry run's plan: what it will rehearse, numbered, with each file."""
    verb = "roll back" if rollback else "apply"
    print(f"dry run: plan to {verb} {len(plan)} migration(s); nothing will be changed", file=out)
    for number, m in enumerate(plan, start=1):
        file = m.rollback if rollback else m.file
        print(f"  {number}. {m.label} {m.kind:<6} {file.path if file else m.path}", file=out)


def dry_verdict(
    plan: list[Migration],
    outcomes: list[Outcome],
    failure: MigrationFailed | None,
    *,
    out: TextIO,
    log: RunLog | None = None,
    not_rehearsed: list[str] | None = None,
) -> bool:
    """The dry run's last lines: the first failure, or that all would succeed; True when a
    step would fail. `not_rehearsed`: a line for each migration the engine could not rehearse
    (PostgreSQL's @no-transaction and what follows it), printed and counted."""
    left = not_rehearsed or []
    if failure is not None:
        if log is not None:
            log.failed(failure)
        index = _failed_index(plan, len(outcomes), failure)
        print(f"would FAIL {plan[index].label}: {failure}", file=out)
        if failure.group is not None:
            print(f"  its group would be rolled back: {failure.group} not applied", file=out)
        skipped = len(plan) - index - 1
        tail = f"; {skipped} not tried after it" if skipped else ""
        print(
            f"dry run: {len(outcomes)} would succeed, 1 would fail{tail}; nothing was changed",
            file=out,
        )
        return True
    for line in left:
        print(line, file=out)
    if left:
        print(
            f"dry run: {len(outcomes)} would succeed, {len(left)} not rehearsed; nothing was "
            "changed",
            file=out,
        )
        return False
    print(f"dry run: all {len(outcomes)} would succeed; nothing was changed", file=out)
    return False


def _failed_index(plan: list[Migration], succeeded: int, failure: MigrationFailed) -> int:
    """Where in the plan the failure is: the step after the last outcome, unless a group was
    rolled back with it (its members before it have no outcome): then found by its file."""
    if failure.group is not None:
        for index, migration in enumerate(plan):
            if str(migration.path) == failure.path:
                return index
    return succeeded
