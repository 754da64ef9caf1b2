"""A check's migrations on its throwaway database (apply_empty, the setup of apply_sample): as
the runner applies them one transaction each, in fewer transactions and round trips.

Nothing on a throwaway database outlives the check, so a migration's own COMMIT buys nothing
but a round trip: the migrations share transactions as `ci.migrate --group` shares them
(ci.db.group.split: a `@no-transaction` migration runs alone, as the runner runs it; seeds
are a group of their own; a migration that adds an enum label ends its group, so a later one
may use the label), at most GROUP_LIMIT to a transaction, so a group holds about as many locks
as a large migration does. What the check reports does not change; each member runs as
it would run in a transaction of its own:

- its statements through the gate, all sent in one round trip when the gate passes every one
  of them as it is (ci.db.postgres.execute.run_file_ahead), with its own --statement-timeout
  deadline and the run's SET LOCAL limits; its time and the rows it changed are its own;
- at its end, in one round trip (`_finish`, the checks of steps.finish in its order): its
  deferred constraints checked as its own COMMIT would check them (a violation is its failure,
  `at commit: ...`), the runner's tables compared with before it, its row written and read
  back;
- then, in one query of the simple protocol (`_fresh`): the session put back as the run
  started (ci.db.postgres.session), the limits set again, the constraints that start deferred
  deferred again, and the next member's questions (its row written already? the runner's
  tables before it).

A failure of the first member rolls the group back and raises as the runner raises (it ran as
alone). A later member's failure may come from sharing the transaction (`_alone` names how):
the group is rolled back and run again one migration per transaction, as the runner applies
them, and that run's first failure is the verdict; a check's verdict never depends on the
grouping.

That is the member-by-member way, two round trips a member. A group whose statements the gate
passes as written is first sent whole (ci.db.postgres.check_sent: a query a member, the
runner's tables checked once); this way runs only when that one declined (something failed,
or the tables changed), to name the member and line as the runner does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import ClientCursor, sql

from ci.core.model import Migration
from ci.db.bookkeeping import now_utc
from ci.db.group import shares_transaction, split
from ci.db.outcomes import MigrationFailed, Outcome, RunRefused, whole_ms
from ci.db.postgres import session
from ci.db.postgres.bookkeeping import IS_SEED, check_written, found, record_queries
from ci.db.postgres.check_sent import UNLOCK_ALL, apply_sent
from ci.db.postgres.connect import Cursor, PgConnection, one_line
from ci.db.postgres.enum_labels import adds_enum_label
from ci.db.postgres.execute import run_file_ahead
from ci.db.postgres.group import DEFERRED, PgRunner
from ci.db.postgres.steps import file_problems, limit_statements, transaction_asking
from ci.db.postgres.tables_snapshot import (
    IMMEDIATE,
    ROW_AGES,
    Snapshot,
    SnapshotQuery,
    read_snapshot,
    refuse_changed,
)
from ci.db.records import Entry
from ci.db.tables import TABLE

GROUP_LIMIT = 100  # members of one transaction at most
OnOutcome = Callable[[Outcome], None]
Next = tuple[bool, Snapshot]  # what the next member needs: applied already?, the tables before


def apply_grouped(runner: PgRunner, migrations: list[Migration], on_outcome: OnOutcome) -> None:
    """Apply `migrations` in order, telling `on_outcome` each member's outcome as it ends; the
    first failure raises (MigrationFailed, RunRefused) after the outcomes before it."""
    assert not runner.locked  # UNLOCK_ALL: a check's runner holds no lock of its own
    for part in split(migrations, None, adds_enum_label):
        if len(part) == 1 and not shares_transaction(part[0], None):  # @no-transaction, @batch
            on_outcome(runner.apply(part[0]))
            continue
        for start in range(0, len(part), GROUP_LIMIT):
            members = part[start : start + GROUP_LIMIT]
            sent = apply_sent(runner, members)  # one query a member, when it can vouch
            if sent is None:
                _group(runner, members, on_outcome)  # names what failed, and where
            for outcome in sent or ():
                on_outcome(outcome)


def _group(runner: PgRunner, members: list[Migration], on_outcome: OnOutcome) -> None:
    """The members in one transaction, committed once all of them ran; their outcomes told
    then. When one after the first fails, the group is run again one migration per
    transaction (`_alone`): what a check reports is the plain run's verdict."""
    done: list[Outcome] = []
    try:
        _in_one_transaction(runner, members, done.append)
    except MigrationFailed:
        if done:  # the first member ran as alone; a later one may have failed from sharing
            _alone(runner, members, on_outcome)
            return
        raise
    except RunRefused:  # refused before it ran, as alone
        for outcome in done:
            on_outcome(outcome)
        raise
    for outcome in done:
        on_outcome(outcome)


def _alone(runner: PgRunner, members: list[Migration], on_outcome: OnOutcome) -> None:
    """The group again, from where it started (its transaction rolled back), one migration per
    transaction as the runner applies them. Sharing a transaction can fail a member that alone
    passes: `SET CONSTRAINTS ALL IMMEDIATE` at an earlier member's end also makes immediate the
    constraints made later in the transaction; `now()` and `txid_current()` are the
    transaction's, the same for every member (a duplicate key); the locks of every member are
    held to the end (`out of shared memory`); an enum label added by an earlier member where
    the parse tree does not show it (EXECUTE, a function) cannot be used before its
    transaction commits (55P04, also at a member's end or re-raised by a DO block as another
    error). The first failure here is the verdict, as in the plain run."""
    session.reset(runner.conn)  # what the rolled-back group left in the session
    for migration in members:
        on_outcome(runner.apply(migration))


def _in_one_transaction(runner: PgRunner, members: list[Migration], on_outcome: OnOutcome) -> None:
    conn, running = runner.conn, members[0]
    try:
        with transaction_asking(runner, lambda: _ask(runner, members[0]), limits=True) as asked:
            ahead: Next | None = _read(asked)
            for index, migration in enumerate(members):
                following = members[index + 1] if index + 1 < len(members) else None
                assert ahead is not None  # known for every member, None only after the last
                running = migration
                outcome, ahead = _member(runner, migration, ahead, following)
                on_outcome(outcome)
    except psycopg.Error as error:  # at a member's end, or at COMMIT (then the last member's)
        if conn.closed or conn.broken:
            raise
        raise MigrationFailed(running.path, None, f"at commit: {one_line(error)}") from None


Asked = tuple[Cursor, SnapshotQuery | Snapshot]


def _ask(runner: PgRunner, migration: Migration, before: Snapshot | None = None) -> Asked:
    """The next member's questions, sent: its row, and the runner's tables unless known."""
    entry = runner.entry(migration)
    applied = runner.conn.cursor()
    runner.tables.ask_applied(applied, entry.track, entry.version)
    if before is not None:
        return applied, before
    return applied, runner.tables.ask_snapshot(runner.conn.cursor(), in_transaction=True)


def _read(asked: Asked) -> Next:
    applied, before = asked
    return found(applied), before if isinstance(before, Snapshot) else read_snapshot(before)


def _member(
    runner: PgRunner, migration: Migration, ahead: Next, following: Migration | None
) -> tuple[Outcome, Next | None]:
    """One member inside the group's transaction; its outcome and what the next member needs
    (asked with its end; None after the last)."""
    problems = file_problems(migration)
    if problems:
        raise RunRefused(problems[0])
    applied, before = ahead
    if applied:  # nothing runs: the next member's questions go alone
        return Outcome(migration, "skipped", 0, 0.0), _fresh(runner, None, following, before)
    if migration.track == "seed":
        runner.no_seeds_recorded = False
    conn, timeout = runner.conn, runner.statement_timeout
    immediate, after = conn.cursor(), conn.cursor()

    def end() -> None:  # its own COMMIT's checks, sent with its statements
        immediate.execute(IMMEDIATE)  # deferred triggers fire now, as at its own COMMIT
        runner.tables.ask_snapshot(after, in_transaction=True)

    started = time.perf_counter()
    rows, failed = run_file_ahead(conn, migration.file, notice=runner.notice, timeout=timeout,
                                  then=end)  # fmt: skip
    seconds = time.perf_counter() - started
    _refuse(conn, migration, before, (immediate, after), failed)
    row = (runner.entry(migration), whole_ms(seconds), rows)
    return Outcome(migration, "applied", rows, seconds), _fresh(runner, row, following, before)


def _fresh(
    runner: PgRunner,
    row: tuple[Entry, int, int] | None,
    following: Migration | None,
    before: Snapshot,
) -> Next | None:
    """In one query of the simple protocol (one round trip, one answer per statement): the
    member's row (`row`: entry, ms, rows) written and read back, the session as the run
    started, the limits again (RESET ALL ended the group's SET LOCAL ones too), the
    constraints that start deferred listed, and the next member's questions (its row; the
    runner's tables, unless nothing was written). Then those constraints deferred again: SET
    CONSTRAINTS ALL IMMEDIATE made them immediate for the rest of the group."""
    conn = runner.conn
    known = before if row is None else None  # the row's ctid is in ROW_AGES: asked anew
    asks = [] if following is None else _questions(runner, following, snapshot=known is None)
    recording = [] if row is None else _recording(runner, *row)
    statements = [*recording, *session.RESET, UNLOCK_ALL, *limit_statements(runner, local=True),
                  DEFERRED]  # fmt: skip
    cursor = conn.execute("; ".join([*statements, *asks]), prepare=False)
    answers = [cursor.fetchall() if cursor.description else []]
    while cursor.nextset():
        answers.append(cursor.fetchall() if cursor.description else [])
    if recording:
        check_written(bool(answers[1]), TABLE)  # the read-back: the row as written
    deferred = answers[len(statements) - 1]
    if deferred:
        conn.execute(f"SET CONSTRAINTS {', '.join(str(row[0]) for row in deferred)} DEFERRED")
    if following is None:
        return None
    applied_rows = answers[len(statements)]
    if known is None:
        table, log, hooks = (str(value) for value in answers[-1][0])
        known = Snapshot(table, log, hooks, in_transaction=True)
    return bool(applied_rows), known


def _recording(runner: PgRunner, entry: Entry, ms: int, rows: int) -> list[str]:
    """Tables.ask_record's INSERT and read-back, with their values written in."""
    literal = ClientCursor(runner.conn)
    queries = record_queries(runner.tables.table, entry, ms=ms, rows=rows, at=now_utc())
    return [literal.mogrify(*query) for query in queries]


def _questions(runner: PgRunner, migration: Migration, *, snapshot: bool) -> list[str]:
    """Tables.ask_applied's query (and ask_snapshot's, in a transaction), with their values
    written in: statements of one simple-protocol query take no parameters."""
    conn, tables, entry = runner.conn, runner.tables, runner.entry(migration)
    literal = ClientCursor(conn)
    applied = sql.SQL("SELECT 1 FROM ONLY {} WHERE " + IS_SEED).format(tables.table)
    asks = [literal.mogrify(applied, (entry.track == "seed", entry.version))]
    if snapshot:
        names = (tables.table.as_string(conn), tables.log.as_string(conn))
        query = sql.SQL(ROW_AGES).format(table=tables.table, log=tables.log)
        asks.append(literal.mogrify(query, names * 2))
    return asks


def _refuse(
    conn: PgConnection,
    migration: Migration,
    before: Snapshot,
    sent: tuple[Cursor, Cursor],
    failed: psycopg.Error | None,
) -> None:
    """What refuses the member, in the order the runner checks it: a deferred constraint it
    violated (`at commit`), the runner's tables changed or dropped, then any other error of
    its end (as at its own COMMIT)."""
    immediate, after = sent
    if failed is not None and (conn.closed or conn.broken):
        raise failed
    if failed is not None and immediate.pgresult is None:
        raise MigrationFailed(migration.path, None, f"at commit: {one_line(failed)}")
    if after.pgresult is None and isinstance(failed, psycopg.errors.UndefinedTable):
        refuse_changed(before, None, migration.path)  # dropped by dynamic SQL
    if after.pgresult is not None:
        refuse_changed(before, read_snapshot(SnapshotQuery(after, True)), migration.path)
    if failed is not None:
        raise MigrationFailed(migration.path, None, f"at commit: {one_line(failed)}")
