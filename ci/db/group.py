"""Grouped deploys (`ci.migrate --group`): the pending migrations in as few transactions as
their directives allow, each group all-or-nothing behind one durable commit.

`split` cuts the pending list into parts. A run of migrations that can share a transaction is
one group. A `@batch` or `@no-transaction` migration commits as it goes, and one whose leading
`PRAGMA foreign_keys` differs from the connection's setting needs that pragma set outside any
transaction (SQLite ignores it inside one): each of those is a part of its own and runs exactly
as without --group, ending the group before it. An engine may also end a group after a
migration (PostgreSQL: one that adds an enum label). Seeds never share a group with the main
track.

`apply_group` runs one group: BEGIN IMMEDIATE once, then each migration as it would run alone
(its own deadline, statements through ci.db.statements, foreign_key_check when keys are not
enforced, its own schema_version and 'apply' log rows with its own time and rows), then one
COMMIT. A failure anywhere rolls the whole group back; the log then gets, in a transaction of
its own, the 'failed' row of the migration that failed and a 'group rolled back' row naming the
group's members. Outcomes are reported only once the group has committed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Protocol

from ci.core.model import Migration
from ci.db import bookkeeping, plan
from ci.db.bookkeeping import Entry
from ci.db.marks import record_applied, take_over_marks
from ci.db.outcomes import CannotRun, MigrationFailed, Outcome
from ci.db.session import Session
from ci.db.statements import leading_foreign_keys, run_file

GROUP_ROLLED_BACK = "group rolled back"  # the log's action for a group undone by a failure
NAMES_SHOWN = 10  # file names a message lists before "and N more" (the log row lists all)

OnOutcome = Callable[[Outcome], None]
OnGroup = Callable[[list[Outcome], float], None]


def split(
    pending: list[Migration],
    foreign_keys_on: bool | None,
    ends_group: Callable[[Migration], bool] | None = None,
) -> list[list[Migration]]:
    """The pending list in order, cut into groups; a migration that cannot share a
    transaction is a part of its own. `foreign_keys_on`: the connection's setting (None: an
    engine without the pragma, PostgreSQL). `ends_group`: whether what comes after a
    migration must not share its transaction (PostgreSQL: it adds an enum label, which no
    statement may use before the transaction that added it commits)."""
    parts: list[list[Migration]] = []
    current: list[Migration] = []
    for migration in pending:
        alone = not shares_transaction(migration, foreign_keys_on)
        if current and (alone or current[-1].track != migration.track):
            parts.append(current)
            current = []
        if alone:
            parts.append([migration])
            continue
        current.append(migration)
        if ends_group is not None and ends_group(migration):
            parts.append(current)
            current = []
    if current:
        parts.append(current)
    return parts


def shares_transaction(migration: Migration, foreign_keys_on: bool | None) -> bool:
    """Whether the migration can run inside a group's transaction."""
    directives = migration.directives
    if directives.batch is not None or directives.no_transaction:
        return False
    if foreign_keys_on is None:
        return True
    setting = leading_foreign_keys(migration.file)
    return setting is None or setting == foreign_keys_on


class GroupRunner(Protocol):
    """What migrate_grouped asks of the runner (ci.db.runner.Runner is one)."""

    session: Session

    def entry(self, migration: Migration) -> Entry: ...

    def apply(self, migration: Migration, *, resume: bool = False) -> Outcome: ...

    def warn_if_slow(self, outcome: Outcome) -> None: ...


def migrate_grouped(
    runner: GroupRunner,
    pending: list[Migration],
    resume: bool,
    on_outcome: OnOutcome | None = None,
    on_group: OnGroup | None = None,
) -> list[Outcome]:
    """Apply `pending` group by group (see run_parts)."""
    session = runner.session
    with session.guard():
        enforced = session.foreign_keys_enforced()

    def together(part: list[Migration]) -> list[Outcome]:
        return apply_group(session, part, [runner.entry(m) for m in part], resume=resume)

    return run_parts(runner, split(pending, enforced), together, resume, on_outcome, on_group)


class PartRunner(Protocol):
    """What run_parts asks of a runner, SQLite's or PostgreSQL's."""

    def apply(self, migration: Migration, *, resume: bool = False) -> Outcome: ...

    def warn_if_slow(self, outcome: Outcome) -> None: ...


def run_parts(
    runner: PartRunner,
    parts: list[list[Migration]],
    together: Callable[[list[Migration]], list[Outcome]],
    resume: bool,
    on_outcome: OnOutcome | None = None,
    on_group: OnGroup | None = None,
) -> list[Outcome]:
    """Each part in order: a part of one migration goes the ordinary way (`runner.apply`,
    which warns about slowness itself), a group through `together` (the engine's
    apply_group). `on_outcome` is told a group's outcomes only once it has committed,
    `on_group` each committed group with its seconds (both engines print through these)."""
    outcomes: list[Outcome] = []
    for part in parts:
        seconds = 0.0
        if len(part) == 1:
            done = [runner.apply(part[0], resume=resume)]
        else:
            started = time.perf_counter()
            done = together(part)
            seconds = time.perf_counter() - started
        for outcome in done:
            if len(part) > 1:
                runner.warn_if_slow(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        if on_group is not None and len(part) > 1:
            on_group(done, seconds)
        outcomes += done
    return outcomes


def apply_group(
    session: Session, members: list[Migration], entries: list[Entry], *, resume: bool = False
) -> list[Outcome]:
    """The members and their rows in one transaction: all applied, or none (and raised).
    `resume`: a member's dirty mark (left by an earlier @no-transaction version of it) is
    cleared with its row."""
    running: list[Migration] = [members[0]]  # the member running when something stopped it

    def interrupted(where: str) -> None:
        _log_rolled_back(session, None, where, members)

    with rolled_back_whole(members, running, session.notice, interrupted), session.guard():
        return _in_one_transaction(session, members, entries, running, resume)


@contextmanager
def rolled_back_whole(
    members: list[Migration],
    running: list[Migration],
    notice: Callable[[str], None],
    interrupted: Callable[[str], None],
) -> Iterator[None]:
    """Around a group's transaction, both engines': a failure names the group it rolled back
    (MigrationFailed.group, or the CannotRun line); Ctrl-C says so and has `interrupted` log
    it ('interrupted during FILE'). `running[0]`: the member that was running."""
    try:
        yield
    except MigrationFailed as failure:
        failure.group = members_text(members)
        raise
    except CannotRun as error:  # the database itself: locked, read-only, disk full, gone
        raise CannotRun(
            f"{error}; during {running[0].path.name}: group rolled back: "
            f"{members_text(members)} not applied"
        ) from None
    except KeyboardInterrupt:
        where = f"interrupted during {running[0].path.name}"
        notice(f"{where}: group rolled back: {members_text(members)} not applied")
        interrupted(where)
        raise


def _in_one_transaction(
    session: Session,
    members: list[Migration],
    entries: list[Entry],
    running: list[Migration],
    resume: bool,
) -> list[Outcome]:
    conn = session.conn
    enforced = session.foreign_keys_enforced()
    outcomes: list[Outcome] = []
    session.begin()
    try:
        # read once: the write lock is held from here to the COMMIT, nobody applies meanwhile
        applied = {(row.track, row.version) for row in bookkeeping.read_applied(conn)}
        marked: dict[tuple[str, int], int] = {}
        if resume:
            unapplied = [e for e in entries if (e.track, e.version) not in applied]
            marked = take_over_marks(session, unapplied)
        for migration, entry in zip(members, entries, strict=True):
            running[0] = migration
            if (entry.track, entry.version) in applied:
                outcomes.append(Outcome(migration, "skipped", 0, 0.0))
                continue
            mark_id = marked.get((entry.track, entry.version))
            outcomes.append(_apply_member(session, migration, entry, enforced, mark_id))
        # a deferred foreign key still violated fails here: named on the group's last file
        session.commit(members[-1].file)
    except MigrationFailed as failure:
        session.rollback_quietly()
        failed = entries[members.index(running[0])]
        _log_rolled_back(session, failed, f"failed: {failure}", members)
        raise
    except BaseException:
        session.rollback_quietly()
        raise
    return outcomes


def _apply_member(
    session: Session, migration: Migration, entry: Entry, enforced: bool, mark_id: int | None
) -> Outcome:
    """One migration inside the group's transaction, with its own deadline, rows and time;
    its resumed dirty mark (`mark_id`) cleared with its row."""
    file = migration.file
    plan.check_file(file, migration)
    if migration.track == "seed":
        session.no_seeds_recorded = False
    session.clock.start()
    started = time.perf_counter()
    rows = run_file(session, file)
    marks = () if mark_id is None else (mark_id,)
    seconds = record_applied(
        session,
        file,
        entry,
        started,
        rows,
        enforced=enforced,
        marks=marks,
        log=not session.throwaway,
    )
    return Outcome(migration, "applied", rows, seconds)


def _log_rolled_back(
    session: Session, failed: Entry | None, why: str, members: list[Migration]
) -> None:
    """After the rollback, in a transaction of its own (best effort, as every failure row): the
    failing migration's 'failed' row (`failed`, None after Ctrl-C) and the group's 'group
    rolled back' row, saying `why` ('failed: ...', 'interrupted during ...')."""
    group, held = rolled_back_row(members, why)
    try:
        session.begin()
        if failed is not None:
            bookkeeping.log(session.conn, "failed", failed, error=why.removeprefix("failed: "))
        # a log table of the user's that refuses the new action (a CHECK of its own) still
        # gets the failure: a refused INSERT undoes only itself
        with suppress(sqlite3.IntegrityError, bookkeeping.NotWritten):
            bookkeeping.log(session.conn, GROUP_ROLLED_BACK, group, error=held)
        session.conn.execute("COMMIT")
    except (sqlite3.Error, bookkeeping.NotWritten):
        session.rollback_quietly()


def rolled_back_row(members: list[Migration], why: str) -> tuple[Entry, str]:
    """The 'group rolled back' log row of a group, both engines': its entry (version: the
    group's first; description 'group 0002..0007') and its error (every member, and `why`)."""
    first, last = members[0], members[-1]
    group = Entry(first.version, first.kind, f"group {first.label}..{last.label}")
    names = ", ".join(m.path.name for m in members)
    return group, f"{len(members)} migrations not applied ({names}); {why}"


def members_text(members: list[Migration]) -> str:
    """'0003..0007 (0003_a.sql, 0004_b.sql, ...)': the group in a message."""
    names = ", ".join(m.path.name for m in members[:NAMES_SHOWN])
    if len(members) > NAMES_SHOWN:
        names += f" and {len(members) - NAMES_SHOWN} more"
    return f"{members[0].label}..{members[-1].label} ({names})"
