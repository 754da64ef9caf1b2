"""The dry run on PostgreSQL: the pending migrations applied for real in ONE transaction that
ends with ROLLBACK. PostgreSQL's DDL is transactional, so the server itself is the private copy
SQLite's dry run makes: each migration runs through the very code of the grouped run
(ci.db.postgres.group: the gate, its deadline, its deferred constraints checked when it ends,
its row written), and nothing of it, the runner's tables included, outlives the ROLLBACK.

A `@no-transaction` migration cannot be rehearsed that way (CREATE INDEX CONCURRENTLY refuses to
run in a transaction, and its statements would commit). The rehearsal stops before it: the dry
run names it and every migration after it as not rehearsed (they may need what it builds).
"""

from __future__ import annotations

from collections.abc import Callable

from ci.core.model import Migration
from ci.db.dryrun import DRY_ACTIONS
from ci.db.group import shares_transaction
from ci.db.outcomes import MigrationFailed, Outcome
from ci.db.postgres.group import PgRunner, in_one_transaction


def rehearse(
    runner: PgRunner, plan: list[Migration], on_outcome: Callable[[Outcome], None]
) -> tuple[list[Outcome], MigrationFailed | None, list[Migration]]:
    """Run the rehearsable head of `plan` and roll it back: its outcomes ('would apply'), the
    first failure (after which nothing more is tried), and the migrations not rehearsed (a
    `@no-transaction` one and all after it)."""
    cut = next((i for i, m in enumerate(plan) if not shares_transaction(m, None)), len(plan))
    head, rest = plan[:cut], plan[cut:]
    outcomes: list[Outcome] = []

    def seen(outcome: Outcome) -> None:
        action = DRY_ACTIONS.get(outcome.action, outcome.action)
        dry = Outcome(outcome.migration, action, outcome.rows, outcome.seconds)
        outcomes.append(dry)
        on_outcome(dry)

    if head:
        try:
            in_one_transaction(runner, head, [head[0]], commit=False, on_outcome=seen)
        except MigrationFailed as failure:
            return outcomes, failure, rest
    return outcomes, None, rest


def not_rehearsed_lines(rest: list[Migration]) -> list[str]:
    """What the dry run says of the migrations it could not rehearse."""
    if not rest:
        return []
    first = rest[0]
    lines = [
        f"not rehearsed {first.label} {first.kind:<6} {first.path}: @no-transaction (its "
        "statements commit one by one, so no transaction can take them back); the real run "
        "applies it under a dirty mark"
    ]
    lines += [
        f"not rehearsed {m.label} {m.kind:<6} {m.path}: after {first.label}, which it may need"
        for m in rest[1:]
    ]
    return lines
