"""Rolling back: which applied migrations a rollback to N undoes (refused whole, before any
change, when one of them cannot be undone), and undoing one of them in one transaction with the
removal of its `schema_version` row.

Seeds are never rolled back, but every main-track rollback step makes the applied seeds pending
again (see reset_seeds).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from ci.core.model import Catalog, InputError, Migration, SqlFile, label_of
from ci.db import bookkeeping
from ci.db.bookkeeping import AppliedRow, DirtyMark, Entry
from ci.db.dirty import dirty_message
from ci.db.outcomes import MigrationFailed, Outcome, RunRefused, whole_ms
from ci.db.plan import rollback_problems
from ci.db.session import Session
from ci.db.statements import run_file


def rollback_plan(catalog: Catalog, applied: Iterable[AppliedRow], version: int) -> list[Migration]:
    """Applied main-track migrations from the newest down to and including `version`.

    Raises RunRefused listing every one that cannot be rolled back, before any change.
    """
    files = {m.version: m for m in catalog.main}
    rows = [r for r in applied if r.track == "main" and r.version >= version]
    rows.sort(key=lambda r: r.version, reverse=True)
    problems: list[str] = []
    plan: list[Migration] = []
    # N undoes N and everything after it: a migration that cannot be undone stops every
    # N at or below it, and the lowest N that works is one above the highest such migration
    blocked = [r.version for r in rows if (m := files.get(r.version)) is None or not m.rollback]
    limit = _lowest_rollback(blocked, rows[0].version if rows else 0)
    irreversible: list[AppliedRow] = []
    for row in rows:
        m = files.get(row.version)
        if m is not None and m.rollback is not None:
            refuse_contradiction(m, m.rollback, version)
        if m is None:
            problems.append(
                f"{row.label} ({row.description}) is applied but its migration file is "
                f"missing; cannot undo it, so --rollback {version:04d} is refused{limit}"
            )
        elif m.rollback is None:
            reason = m.directives.irreversible
            why = (
                f"declared @irreversible ({reason})"
                if reason
                else f"has no rollback file (rollback/{row.version:04d}_rollback.sql)"
            )
            problems.append(
                f"{m.path}: {m.label} {why}; --rollback {version:04d} would have to undo it "
                f"(it undoes {version:04d} and every later migration){limit}"
            )
            if reason:
                irreversible.append(row)
        else:
            problems += rollback_problems(m)
            plan.append(m)
    if irreversible:
        raise CannotUndo("\n".join(problems), irreversible[-1])
    if problems:
        raise RunRefused("\n".join(problems))
    return plan


class CannotUndo(RunRefused):
    """A rollback refused because it would undo a migration declared @irreversible. `row`:
    the oldest such migration's schema_version row; the way back past it (`way_back`) is a
    backup older than it, or a new migration."""

    def __init__(self, message: str, row: AppliedRow) -> None:
        super().__init__(message)
        self.row = row


def refuse_contradiction(migration: Migration, rollback: SqlFile, version: int) -> None:
    """InputError (exit 2, one line naming both files) when a migration declares
    @irreversible and has a rollback file all the same: which one is wrong is the author's
    call, never the runner's (ci.numbering reports the pair as MG112)."""
    reason = migration.directives.irreversible
    if reason is None:
        return
    raise InputError(
        f"{migration.path}: {migration.label} declares @irreversible ({reason}), yet "
        f"{rollback.path} exists to undo it; --rollback {version:04d} is refused until one of "
        "them goes (delete the rollback file if it cannot be undone, else the @irreversible "
        "line)"
    )


def way_back(row: AppliedRow, database: Path | None) -> str:
    """What to do instead of rolling back past the @irreversible migration of `row`: restore
    the newest backup of `database` (SQLite) that ci.migrate took beside it before that
    migration was applied, when there is one; else write a new migration that undoes it."""
    label = row.label
    forward = "write a new migration that undoes what you need"
    if database is None:  # a server's database: its backups are not ours to find
        return f"the way back past {label}: {forward} (or restore a backup taken before it)"
    backup = backup_before(database, row)
    if backup is None:
        return (
            f"the way back past {label}: {forward} (no backup ci.migrate took beside "
            f"{database} predates {label}; one written with --backup PATH elsewhere may)"
        )
    return (
        f"the way back past {label}: restore {backup}, the backup ci.migrate took before "
        f"{label} was applied (it loses every change made since: docs/runner.md#backups), "
        f"or {forward}"
    )


def backup_before(database: Path, row: AppliedRow) -> Path | None:
    """The newest `<db>.bak-<UTC time>[-N]` beside `database`, taken no later than `row` was
    applied (schema_version's ISO 8601 UTC), that is PROVEN to predate that migration: its own
    bookkeeping shows it neither applied nor begun. None when no backup is.

    The name alone proves nothing: it is to the second, and every run in that second (0002
    applied, then 0003 in a second run) names its backup with the same time, the later one
    `-2`; that one already holds 0002. So each candidate, newest first, is opened read-only
    and looked into; one that cannot be read, or that holds the migration, is passed over.
    """
    if not row.applied_at:
        return None
    moment = row.applied_at.replace("-", "").replace(":", "")[:15]  # 20261206T150001
    for taken_at, path in sorted(_backups_beside(database), reverse=True):
        if taken_at[0][:15] <= moment and _predates(path, row):
            return path
    return None


def _backups_beside(database: Path) -> list[tuple[tuple[str, int], Path]]:
    """((UTC time, N), path) of each backup ci.migrate named beside `database`: N orders the
    ones of one second as they were taken (`-10` after `-9`)."""
    prefix = f"{database.name}.bak-"
    found: list[tuple[tuple[str, int], Path]] = []
    with suppress(OSError):
        for entry in os.scandir(database.parent or "."):
            if not entry.name.startswith(prefix):
                continue
            stamp, _, counter = entry.name[len(prefix) :].partition("-")
            if len(stamp) == 16 and (counter.isdigit() or not counter) and entry.is_file():
                found.append(((stamp, int(counter or 1)), database.parent / entry.name))
    return found


def _predates(backup: Path, row: AppliedRow) -> bool:
    """Whether `backup` (opened read-only, never changed) neither has `row`'s migration in its
    schema_version nor an open dirty mark of it (a @batch one that had begun): restoring it
    undoes that migration whole. A file that is not a readable database proves nothing, nor
    does one with a `-wal` beside it (opened as a database and written since).

    `immutable=1`: a backup is written once and never changed, and a plain read-only
    connection to one in WAL mode (copied from a WAL database) would leave `-wal` and `-shm`
    files beside it."""
    if backup.with_name(backup.name + "-wal").exists():
        return False
    uri = backup.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=1.0)
    except sqlite3.Error:
        return False
    try:
        recorded = [*bookkeeping.read_applied(conn), *bookkeeping.open_marks(conn)]
    except (sqlite3.Error, InputError):
        return False
    finally:
        conn.close()
    return not any(r.track == row.track and r.version == row.version for r in recorded)


def _lowest_rollback(blocked: list[int], newest: int) -> str:
    """What to say about the furthest rollback possible, given the migrations that cannot be
    undone (`blocked`) and the newest applied one."""
    if not blocked:
        return ""
    lowest = max(blocked) + 1
    if lowest > newest:
        return f"; nothing after {max(blocked):04d} is applied, so no rollback is possible now"
    return f"; the furthest rollback possible is --rollback {lowest:04d}"


def refuse_unsafe_rollback(edited: list[str], dirty: list[DirtyMark]) -> None:
    """A rollback runs on a database whose applied files are as applied and that has no dirty
    mark; RunRefused naming every problem otherwise, before any change (a backup included)."""
    problems = edited + [dirty_message(mark) for mark in dirty]
    if problems:
        raise RunRefused("\n".join(problems))


def rollback_file(migration: Migration) -> SqlFile:
    """The migration's rollback file; MigrationFailed when it has none."""
    file = migration.rollback
    if file is None:
        reason = migration.directives.irreversible
        why = f"@irreversible: {reason}" if reason else "no rollback file in rollback/"
        raise MigrationFailed(migration.path, None, f"cannot roll back {migration.label}: {why}")
    refuse_contradiction(migration, file, migration.version)
    return file


def rollback_in_transaction(
    session: Session,
    migration: Migration,
    file: SqlFile,
    entry: Entry,
    enforced: bool,
    planned: bool = False,
) -> Outcome:
    """Run the rollback file and remove the migration's row (and reset the seeds), in one
    transaction. A step of a rollback plan (`planned`) refuses, with nothing of it changed,
    when another runner changed the database since the plan was made (see
    refuse_unless_as_planned); a lone rollback is 'skipped' when it is not applied."""
    conn = session.conn
    started = time.perf_counter()
    session.begin()
    try:
        # asked under the write lock, before the file runs (a rollback file may delete its
        # own schema_version row, the seed document's habit)
        if planned:
            refuse_unless_as_planned(session, migration, entry)
        elif not bookkeeping.is_applied(conn, entry.track, entry.version):
            session.rollback_quietly()
            return Outcome(migration, "skipped", 0, 0.0)
        rows = run_file(session, file, rollback=True)
        if not enforced:
            session.foreign_key_check(file)
        seconds = time.perf_counter() - started
        with session.own_rows(file):
            bookkeeping.unrecord(conn, entry.track, entry.version)
            if not session.throwaway:
                ms = whole_ms(seconds)
                bookkeeping.log(conn, "rollback", entry, ms=ms, rows=rows)
            reset = reset_seeds(session)
        session.commit(file)
    except MigrationFailed as failure:
        session.rollback_quietly()
        session.log_failure(entry, failure, action="rollback-failed")
        raise
    except BaseException:
        session.rollback_quietly()
        raise
    _announce_reset(session, reset)
    return Outcome(migration, "rolled back", rows, seconds)


def refuse_unless_as_planned(session: Session, migration: Migration, entry: Entry) -> None:
    """RunRefused unless the database is still what the rollback plan assumed at this step:
    no open dirty mark (a batch another runner is applying, or left unfinished), the
    migration still applied, and no main-track migration newer than it applied (the plan's
    newer steps are undone by now). Otherwise another runner changed the database between
    the plan and this step, and undoing anything would go past the plan that was printed."""
    conn = session.conn
    marks = bookkeeping.open_marks(conn)
    if marks:
        raise RunRefused("\n".join(dirty_message(mark) for mark in marks))
    newer = [
        row.label
        for row in bookkeeping.read_applied(conn)
        if row.track == "main" and row.version > entry.version
    ]
    if newer:
        what = f"{', '.join(newer)} applied since the plan was made"
    elif not bookkeeping.is_applied(conn, entry.track, entry.version):
        what = f"{migration.label} no longer applied"
    else:
        return
    raise RunRefused(
        f"not rolling back {migration.label}: another runner changed the database meanwhile "
        f"({what}); this step changed nothing; run the rollback again to see the new plan"
    )


def reset_seeds(session: Session) -> list[Entry]:
    """Mark applied seeds as pending again (they are idempotent; nothing is executed).

    Seeds are never rolled back, but a main-track rollback may drop or empty the tables they
    filled, and which seed depends on which migration is unknown; so every main-track
    rollback step makes every applied seed pending, in the step's own transaction: a
    rollback that fails or is killed at the next step still leaves the bookkeeping true,
    and the seeds run again when a later run reaches the head of the main track.
    """
    if session.throwaway and session.no_seeds_recorded:
        return []
    seeds = bookkeeping.applied_seeds(session.conn)
    session.no_seeds_recorded = not seeds  # true whether this step commits or not
    for seed in seeds:
        bookkeeping.unrecord(session.conn, "seed", seed.version)
        bookkeeping.log(session.conn, "seed-reset", seed)
    return seeds


def _announce_reset(session: Session, seeds: list[Entry]) -> None:
    if seeds:
        labels = ", ".join(label_of("seed", seed.version) for seed in seeds)
        session.notice(f"seeds {labels} will run again when the database is back at head")
