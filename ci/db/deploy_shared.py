"""What the deploy command says about a database, whichever engine's runner holds it: where the
database is now, and the dirty marks a --force-clean cleared (ci.db.deploy and
ci.db.postgres.deploy both print through these)."""

from __future__ import annotations

from ci.db import bookkeeping

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol, TextIO

    from ci.core.model import Catalog, Migration
    from ci.db.outcomes import Outcome
    from ci.db.records import AppliedRow, DirtyMark

    class Deployed(Protocol):
        """What the deploy command's reports ask of a runner, SQLite's or PostgreSQL's."""

        catalog: Catalog

        def applied(self) -> list[AppliedRow]: ...

        def force_clean(self) -> list[DirtyMark]: ...

        def rollback_to(
            self, version: int, *, on_outcome: Callable[[Outcome], None] | None = ...,
            plan: list[Migration] | None = ...,
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
