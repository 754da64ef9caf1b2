"""The dry run on PostgreSQL: the pending migrations applied for real in ONE transaction that
ends with ROLLBACK. PostgreSQL's DDL is transactional, so the server itself is the private copy
SQLite's dry run makes: each migration runs through the very code of the grouped run
(ci.db.postgres.group: the gate, its deadline, its deferred constraints checked when it ends,
its row written), and nothing of it, the runner's tables included, outlives the ROLLBACK.

Two things stop the rehearsal, since one transaction cannot stand for the real run past them:

- a `@no-transaction` migration (CREATE INDEX CONCURRENTLY refuses to run in a transaction,
  and its statements would commit): the rehearsal stops before it;
- a migration that adds an enum label (ci.db.postgres.enum_labels): no statement may use the
  label before the transaction that added it commits, which the real run does after that
  migration and the rehearsal never does. The rehearsal stops after it.

The dry run names every migration it did not reach as not rehearsed, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from ci.core.model import Migration
from ci.db.dryrun import DRY_ACTIONS
from ci.db.group import shares_transaction
from ci.db.outcomes import MigrationFailed, Outcome
from ci.db.postgres.enum_labels import adds_enum_label
from ci.db.postgres.group import PgRunner, in_one_transaction
from ci.db.postgres.untransacted import untransacted_call, why_not_rehearsed


def rehearsable(plan: list[Migration]) -> int:
    """How many migrations at the head of `plan` one transaction can rehearse: up to a
    `@no-transaction` or `@batch` one or one that calls setval() or the like (not included:
    ci.db.postgres.untransacted) or one that adds an enum label (included)."""
    for index, migration in enumerate(plan):
        if not shares_transaction(migration, None) or untransacted_call(migration.file):
            return index
        if adds_enum_label(migration):
            return index + 1
    return len(plan)


def rehearse(
    runner: PgRunner, plan: list[Migration], on_outcome: Callable[[Outcome], None]
) -> tuple[list[Outcome], MigrationFailed | None, list[Migration]]:
    """Run the rehearsable head of `plan` and roll it back: its outcomes ('would apply'), the
    first failure (after which nothing more is tried), and the migrations not rehearsed (see
    `rehearsable`)."""
    cut = rehearsable(plan)
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


def not_rehearsed_lines(rest: list[Migration], rehearsed: list[Migration]) -> list[str]:
    """What the dry run says of the migrations it could not rehearse (`rest`), after those it
    set out to rehearse (`rehearsed`)."""
    if not rest:
        return []
    first = rest[0]
    called = untransacted_call(first.file) if shares_transaction(first, None) else None
    if not shares_transaction(first, None) or called:
        if called:
            why = f"{why_not_rehearsed(called)}; the real run applies it"
        else:
            kind = (
                "@batch (each batch commits on its own"
                if first.directives.batch is not None
                else "@no-transaction (its statements commit one by one"
            )
            why = (
                f"{kind}, so no transaction can take them back); the real run applies it "
                "under a dirty mark"
            )
        lines = [f"not rehearsed {first.label} {first.kind:<6} {first.path}: {why}"]
        return lines + [
            f"not rehearsed {m.label} {m.kind:<6} {m.path}: after {first.label}, which it may need"
            for m in rest[1:]
        ]
    adder = rehearsed[-1]
    return [
        f"not rehearsed {m.label} {m.kind:<6} {m.path}: after {adder.label}, which adds an "
        "enum label (ALTER TYPE ... ADD VALUE) that no statement may use before its "
        "transaction commits; the real run commits it first"
        for m in rest
    ]
