"""The PostgreSQL runner's rollback step (the rollback file, the removal of its row and the
seeds made pending again, in one transaction) and clearing dirty marks, as the SQLite runner's
(ci.db.rollback, ci.db.marks) do them.
"""

from __future__ import annotations

import time

from ci.core.model import Migration, SqlFile, label_of
from ci.db.bookkeeping import now_utc
from ci.db.dirty import dirty_message
from ci.db.outcomes import MigrationFailed, Outcome, RunRefused, whole_ms
from ci.db.plan import rollback_problems
from ci.db.postgres.execute import run_file
from ci.db.postgres.session import refuse_unless_locked
from ci.db.postgres.steps import PgRunner, check_deferred, log_failure, transaction
from ci.db.records import DirtyMark, Entry


def rollback_in_transaction(
    runner: PgRunner, migration: Migration, file: SqlFile, *, planned: bool
) -> Outcome:
    """The rollback file, the row's removal and the seeds made pending, in one transaction."""
    problems = rollback_problems(migration)
    if problems:
        raise RunRefused(problems[0])
    entry = runner.entry(migration)
    started = time.perf_counter()
    try:
        with transaction(runner, limits=True):
            done = rollback_inside(runner, migration, file, planned=planned, started=started)
    except MigrationFailed as failure:
        log_failure(runner, entry, failure, "rollback-failed")
        raise
    if done is None:
        return Outcome(migration, "skipped", 0, 0.0)
    rows, seconds, reset = done
    if reset:
        labels = ", ".join(label_of("seed", seed.version) for seed in reset)
        runner.notice(f"seeds {labels} will run again when the database is back at head")
    return Outcome(migration, "rolled back", rows, seconds)


def rollback_inside(
    runner: PgRunner, migration: Migration, file: SqlFile, *, planned: bool, started: float
) -> tuple[int, float, list[Entry]] | None:
    """Inside the open transaction: the rollback file, the row's removal and the seeds made
    pending; (rows, seconds since `started`, the seeds reset), or None when the migration is
    no longer applied (not `planned`: another runner rolled it back)."""
    entry, conn, tables = runner.entry(migration), runner.conn, runner.tables
    if planned:
        _refuse_unless_as_planned(runner, migration, entry)
    elif not tables.is_applied(conn, entry.track, entry.version):
        return None
    before = tables.snapshot(conn)
    rows = run_file(conn, file, rollback=True, notice=runner.notice,
                    timeout=runner.statement_timeout)  # fmt: skip
    refuse_unless_locked(conn, file.location, locked=runner.locked)
    check_deferred(conn, file.path)  # a deferred constraint it breaks: the rollback's failure
    tables.refuse_changes(conn, before, file.path)
    seconds = time.perf_counter() - started
    tables.unrecord(conn, entry.track, entry.version)
    if not runner.throwaway:
        tables.log_attempt(conn, "rollback", entry, ms=whole_ms(seconds), rows=rows)
    return rows, seconds, _reset_seeds(runner)


def _refuse_unless_as_planned(runner: PgRunner, migration: Migration, entry: Entry) -> None:
    """The database is still what the printed rollback plan assumed at this step."""
    conn, tables = runner.conn, runner.tables
    marks = tables.open_marks(conn)
    if marks:
        raise RunRefused("\n".join(dirty_message(mark) for mark in marks))
    newer = [r.label for r in tables.read_applied(conn)
             if r.track == "main" and r.version > entry.version]  # fmt: skip
    if newer:
        what = f"{', '.join(newer)} applied since the plan was made"
    elif not tables.is_applied(conn, entry.track, entry.version):
        what = f"{migration.label} no longer applied"
    else:
        return
    raise RunRefused(
        f"not rolling back {migration.label}: another runner changed the database meanwhile "
        f"({what}); this step changed nothing; run the rollback again to see the new plan"
    )


def _reset_seeds(runner: PgRunner) -> list[Entry]:
    """Every main-track rollback step makes the applied seeds pending again (they are
    idempotent, and which seed fills what a rollback drops is unknown): as on SQLite."""
    if runner.throwaway and runner.no_seeds_recorded:
        return []
    seeds = runner.tables.applied_seeds(runner.conn)
    runner.no_seeds_recorded = not seeds
    for seed in seeds:
        runner.tables.unrecord(runner.conn, "seed", seed.version)
        runner.tables.log_attempt(runner.conn, "seed-reset", seed)
    return seeds


def force_clean(runner: PgRunner) -> list[DirtyMark]:
    """Clear every open dirty mark, logging each; the migrations stay not applied."""
    with transaction(runner):
        marks = runner.tables.open_marks(runner.conn)
        for mark in marks:
            runner.tables.set_mark(runner.conn, mark.id, "cleared_at = %s", now_utc())
            entry = Entry(mark.version, mark.migration_type, mark.description, mark.file_hash)
            runner.tables.log_attempt(runner.conn, "force-clean", entry, rows=mark.rows_done)
    return marks
