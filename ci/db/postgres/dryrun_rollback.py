"""`ci.migrate --database-url ... --dry-run --rollback N`: the rollback steps run for real in ONE
transaction that ends with ROLLBACK, as the dry run of an apply does (ci.db.postgres.dryrun).

Each step is the real rollback's own body (ci.db.postgres.rollback.rollback_inside: the plan
re-checked, the rollback file through the gate with its deadline, the runner's lock checked,
what its own COMMIT would check (its deferred constraints: one it breaks is named on its file,
`at commit: ...`), the runner's tables compared, the row removed, the seeds made pending); then
the session is put back as the run started before the next step, with the constraints that
start deferred deferred again (ci.db.postgres.group). The refusals before any step are the real
rollback's: an edited applied file, a dirty mark.

Two things stop the rehearsal, as they stop the apply's: a rollback file that calls setval() or
the like (ci.db.postgres.untransacted: no ROLLBACK takes it back), before that step; and a
rollback file that adds an enum label (ALTER TYPE ... ADD VALUE), after it: no statement may use
the label before the transaction that added it commits, which the real rollback does after that
step and the rehearsal never does. Each step not reached is named "not rehearsed". (A rollback
file cannot be `@no-transaction`: the real rollback runs each in a transaction, so what cannot
run in one fails there and here alike.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ci.core.model import Migration
from ci.db.dryrun import DRY_ACTIONS
from ci.db.outcomes import MigrationFailed, Outcome, RunRefused
from ci.db.plan import rollback_problems
from ci.db.postgres.enum_labels import file_adds_enum_label
from ci.db.postgres.group import PgRunner, fresh_for_next
from ci.db.postgres.rollback import rollback_inside
from ci.db.postgres.steps import transaction
from ci.db.postgres.untransacted import untransacted_call, why_not_rehearsed
from ci.db.rollback import rollback_file


class _Rehearsed(Exception):
    """Every step ran: the transaction rolls back."""


def rehearse_rollback(
    runner: PgRunner, plan: list[Migration], on_outcome: Callable[[Outcome], None]
) -> tuple[list[Outcome], MigrationFailed | None, list[Migration]]:
    """Roll back the rehearsable head of `plan` (newest first) and undo it all: the outcomes
    ('would roll back'), the first failure (nothing is tried after it) and the steps not
    rehearsed (after one whose rollback adds an enum label). The caller has refused first what
    the real rollback refuses (ci.db.rollback.refuse_unsafe_rollback)."""
    cut = rehearsable(plan)
    head, rest = plan[:cut], plan[cut:]
    outcomes: list[Outcome] = []
    try:
        with transaction(runner, limits=True):
            for migration in head:
                outcome = _step(runner, migration)
                dry = Outcome(migration, DRY_ACTIONS[outcome.action], outcome.rows,
                              outcome.seconds)  # fmt: skip
                outcomes.append(dry)
                on_outcome(dry)
            raise _Rehearsed
    except _Rehearsed:
        pass
    except MigrationFailed as failure:
        return outcomes, failure, rest
    return outcomes, None, rest


def rehearsable(plan: list[Migration]) -> int:
    """How many steps at the head of `plan` one transaction can rehearse: up to the first whose
    rollback file calls setval() or the like (not included: ci.db.postgres.untransacted), or
    up to and including the first whose rollback file adds an enum label."""
    for index, migration in enumerate(plan):
        if migration.rollback is None:
            continue  # refused when its step comes: rollback_file
        if untransacted_call(migration.rollback):
            return index
        if file_adds_enum_label(migration.rollback):
            return index + 1
    return len(plan)


def _step(runner: PgRunner, migration: Migration) -> Outcome:
    """One rollback step inside the open transaction, as it would run in one of its own."""
    problems = rollback_problems(migration)
    if problems:
        raise RunRefused(problems[0])
    file = rollback_file(migration)
    started = time.perf_counter()
    done = rollback_inside(runner, migration, file, planned=True, started=started)
    assert done is not None  # planned: a step no longer applied is refused, not skipped
    rows, seconds, _ = done  # (its deferred constraints checked, as its own COMMIT would)
    fresh_for_next(runner)
    return Outcome(migration, "rolled back", rows, seconds)


def not_rehearsed_lines(rest: list[Migration], rehearsed: list[Migration]) -> list[str]:
    """What the dry run says of the steps it could not rehearse (`rest`), after those it set
    out to rehearse (`rehearsed`)."""
    if not rest:
        return []
    first = rest[0]
    called = untransacted_call(first.rollback) if first.rollback else None
    if called:
        lines = [
            f"not rehearsed {first.label} {first.kind:<6} {_path(first)}: "
            f"{why_not_rehearsed(called)}; the real rollback runs it"
        ]
        return lines + [
            f"not rehearsed {m.label} {m.kind:<6} {_path(m)}: after {first.label}, whose "
            "rollback it may need"
            for m in rest[1:]
        ]
    adder = rehearsed[-1]
    return [
        f"not rehearsed {m.label} {m.kind:<6} {_path(m)}: after {adder.label}, whose rollback "
        "adds an enum label (ALTER TYPE ... ADD VALUE) that no statement may use before its "
        "transaction commits; the real rollback commits it first"
        for m in rest
    ]


def _path(migration: Migration) -> object:
    return migration.rollback.path if migration.rollback else migration.path
