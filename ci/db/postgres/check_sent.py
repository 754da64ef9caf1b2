"""A group of a check's migrations sent whole (ci.db.postgres.check_groups' fast way): each
member in ONE query of the simple protocol, the runner's tables checked once for the group.

The member-by-member way (check_groups._group) takes two round trips a member and asks the
server for a snapshot of the runner's tables before and after each one; most of the server's
time then goes to bookkeeping, not to the migrations. Here, when the gate passes every
statement of every member as it is (ci.db.postgres.execute.ahead), a member is one query:

    <the previous member's end: its row, the session reset, the limits, the constraints that
     start deferred deferred again>; <its statements>; SET CONSTRAINTS ALL IMMEDIATE

so each member still runs as in a transaction of its own (its deferred constraints checked at
its end, a fresh session, its own --statement-timeout deadline, its own time and rows). The
runner's tables are checked once, before COMMIT: their counts and the rows this transaction
wrote (ROW_AGES), and those rows read back whole against the rows the members should have
(a migration that wrote, changed or deleted one of them, or the log, shows there: every row it
touches gets this transaction's xmin); and whether a trigger or rule was made on them at any
moment of the transaction (HOOKED: one dropped again before the end fired on the rows written
in between).

This way vouches only for a group that passed: when anything fails (a statement, a deferred
constraint, the deadline, the check of the tables), the group is rolled back, the session put
back, and `apply_sent` says so (None); the caller runs the group member by member, which names
the member and line as the runner does. A failing group costs its time twice; a passing one,
which is what a check is run for, a round trip a member.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import ClientCursor, sql

from ci.core.model import Migration
from ci.core.sqltext import Statement
from ci.db.bookkeeping import now_utc
from ci.db.outcomes import CannotRun, Outcome, whole_ms
from ci.db.postgres import session
from ci.db.postgres.bookkeeping import IS_SEED, record_queries
from ci.db.postgres.connect import PgConnection, changed_rows, one_line
from ci.db.postgres.deadline import Deadline
from ci.db.postgres.execute import PgGate, ahead
from ci.db.postgres.group import DEFERRED, PgRunner
from ci.db.postgres.steps import file_problems, limit_statements, rollback_quietly
from ci.db.postgres.tables_snapshot import IMMEDIATE, ROW_AGES, Snapshot
from ci.db.records import Entry
from ci.db.tables import APPLIED_BY

NO_HOOKS = "0:0:0:0"  # ROW_AGES's part for the triggers and rules on the runner's tables: none
# Every session advisory lock: a check's runner takes none of its own (it alone uses its
# throwaway database; PgRunner.lock is never called), so what is held was taken by a migration,
# and one call frees it without reading pg_locks (which lists every lock the group holds).
UNLOCK_ALL = "SELECT pg_advisory_unlock_all()"
# The constraints that start deferred, deferred again after a member's SET CONSTRAINTS ALL
# IMMEDIATE (as check_groups' DEFERRED and its SET CONSTRAINTS), on the server: no round trip.
# Most projects have none: the bare scan first (~50 us on 500 constraints, where naming them
# through the join and string_agg took ~210 us a member).
# Only names no constraint that starts immediate shares (see ci.db.postgres.group.DEFERRED).
REDEFER = f"""DO $mg$DECLARE names text; BEGIN
  IF EXISTS (SELECT FROM pg_constraint WHERE condeferred) THEN
    SELECT string_agg(name, ', ') INTO names FROM ({DEFERRED}) deferred;
    IF names IS NOT NULL THEN EXECUTE 'SET CONSTRAINTS ' || names || ' DEFERRED'; END IF;
  END IF;
END$mg$"""
# the rows this transaction wrote in the runner's table (compared sorted with the members'),
# each where its INSERT put it: a later member's UPDATE of one (or DELETE and INSERT in its
# place) that leaves its values as they were still moves it to a new ctid
WRITTEN = (
    "SELECT version, migration_type, description, file_hash, code_hash, execution_time_ms, "
    "rows_affected, applied_by, ctid::text FROM ONLY {} t WHERE age(t.xmin) <= 0"
)
# Whether a trigger or rule was ever made on the runner's tables (or they were altered, or
# made anew) in this transaction, also one dropped again before the group's end (which fired
# on the rows written in between): CREATE TRIGGER and CREATE RULE set relhastriggers and
# relhasrules in the table's pg_class row, a new version of it, and dropping them does not
# clear the flag (VACUUM does, later). Counted: 0 when none was.
HOOKED = """SELECT count(*) FROM pg_class
  WHERE oid IN (to_regclass(%s), to_regclass(%s))
  AND (relhastriggers OR relhasrules OR age(xmin) <= 0)"""


class _Declined(Exception):
    """The group cannot be vouched for this way: rolled back, run member by member."""


def apply_sent(runner: PgRunner, members: list[Migration]) -> list[Outcome] | None:
    """The members in one transaction, committed, and their outcomes; None when this way
    cannot vouch for them (see the module's doc): nothing of them is left, the session is as
    the run started, and the caller runs them member by member."""
    sends = [_sendable(runner.conn, migration) for migration in members]
    if any(statements is None for statements in sends):
        return None
    conn, running = runner.conn, members[0]
    try:
        conn.execute("BEGIN")
        before = _before(runner, members)
        outcomes: list[Outcome] = []
        end: list[str] = []
        places: list[str] = []  # where each member's row was inserted (its ctid)
        for migration, statements in zip(members, sends, strict=True):
            assert statements is not None
            running = migration
            outcome, place = _member(runner, migration, end, statements)
            places += place
            outcomes.append(outcome)
            end = _end(runner, migration, outcome)
        _check_tables(runner, end, before, (outcomes, places))
        conn.execute("COMMIT")
        # what the member-by-member way counts as it goes, counted once the group is in
        conn.changes += sum(outcome.rows for outcome in outcomes)
        if any(migration.track == "seed" for migration in members):
            runner.no_seeds_recorded = False
    except (_Declined, psycopg.Error) as error:
        rollback_quietly(runner)
        if conn.closed or conn.broken:
            raise CannotRun(
                f"the connection to the server was lost while {running.file.location} ran "
                f"({one_line(error)}); its migration was not committed"
            ) from None
        session.reset(conn)  # what the rolled-back members left outside the transaction
        return None
    return outcomes


def _sendable(conn: PgConnection, migration: Migration) -> list[Statement] | None:
    """The member's statements, when the gate passes each as it is; None otherwise."""
    if migration.directives.no_transaction or file_problems(migration):
        return None
    return ahead(PgGate(conn, throwaway=conn.throwaway, dry_run=conn.dry_run), migration.file)


def _before(runner: PgRunner, members: list[Migration]) -> Snapshot:
    """The run's limits, and in the same round trip the runner's tables as the group starts;
    _Declined when one of the members has its row already (the member-by-member way skips
    it) or triggers or rules watch the runner's tables."""
    conn, tables = runner.conn, runner.tables
    keys = " OR ".join(f"({IS_SEED})" for _ in members)
    values = [value for m in members for value in (m.track == "seed", m.version)]
    asked = sql.SQL("SELECT count(*) FROM ONLY {} WHERE ").format(tables.table) + sql.SQL(keys)
    applied = ClientCursor(conn).mogrify(asked, values)
    limits = limit_statements(runner, local=True)
    query = "; ".join([*limits, applied, _hooked(runner), _row_ages(runner)])
    answers = _answers(conn.execute(query, prepare=False))
    count, hooked = answers[-3][0][0], answers[-2][0][0]
    table, log, hooks = (str(value) for value in answers[-1][0])
    if count or hooked or hooks != NO_HOOKS:
        raise _Declined
    return Snapshot(table, log, hooks, in_transaction=True)


def _member(
    runner: PgRunner, migration: Migration, end: list[str], statements: list[Statement]
) -> tuple[Outcome, list[str]]:
    """The previous member's end, then this member's statements and its deferred checks, in
    one query under its deadline; its outcome, and where the previous member's row went (its
    ctid; none for the first member)."""
    conn = runner.conn
    query = "\n;\n".join([*end, *(s.raw for s in statements), IMMEDIATE])
    started = time.perf_counter()
    with Deadline(conn, runner.statement_timeout) as deadline:
        cursor = conn.execute(query, prepare=False)
    seconds = time.perf_counter() - started
    if deadline.expired:
        raise _Declined
    place = [str(row[0]) for row in cursor.fetchall()] if end else []
    rows = 0
    for index in range(len(end) + len(statements)):
        if index >= len(end):
            rows += changed_rows(cursor.statusmessage)
        cursor.nextset()
    return Outcome(migration, "applied", rows, seconds), place


def _end(runner: PgRunner, migration: Migration, outcome: Outcome) -> list[str]:
    """What follows a member, sent with the next one: its row, the session as the run
    started, the run's limits again (RESET ALL ended the SET LOCAL ones), the constraints
    that start deferred deferred again."""
    entry = runner.entry(migration)
    row = _literal(runner, entry, outcome)
    return [row, *session.RESET, UNLOCK_ALL, *limit_statements(runner, local=True), REDEFER]


def _check_tables(
    runner: PgRunner, end: list[str], before: Snapshot, placed: tuple[list[Outcome], list[str]]
) -> None:
    """The last member's end, then the runner's tables: _Declined unless they are as before
    with the members' rows added, and those rows as the members' and where their INSERTs put
    them (WRITTEN; `placed`: the members' outcomes, and their rows' ctids but the last's)."""
    conn = runner.conn
    written = sql.SQL(WRITTEN).format(runner.tables.table).as_string(conn)
    query = "\n;\n".join([*end, _hooked(runner), _row_ages(runner), written])
    answers = _answers(conn.execute(query, prepare=False))
    outcomes, places = placed[0], [*placed[1], str(answers[0][0][0])]
    hooked = answers[-3][0][0]
    table, log, hooks = (str(value) for value in answers[-2][0])
    count, wrote, _ = before.table.split(":")
    added = len(outcomes)
    counts = f"{int(count) + added}:{int(wrote) + added}:"
    mine = sorted(
        (*_row(runner.entry(o.migration), o), place)
        for o, place in zip(outcomes, places, strict=True)
    )
    if hooked or not table.startswith(counts) or (log, hooks) != (before.log, NO_HOOKS):
        raise _Declined
    if sorted(answers[-1]) != mine:
        raise _Declined


def _row(entry: Entry, outcome: Outcome) -> tuple[object, ...]:
    """The member's row as WRITTEN reads it."""
    return (entry.version, entry.migration_type, entry.description, entry.file_hash,
            entry.code_hash, whole_ms(outcome.seconds), outcome.rows, APPLIED_BY)  # fmt: skip


def _literal(runner: PgRunner, entry: Entry, outcome: Outcome) -> str:
    """The member's row's INSERT, its values written in (a simple query takes none)."""
    (insert, values), _ = record_queries(runner.tables.table, entry, ms=whole_ms(outcome.seconds),
                                         rows=outcome.rows, at=now_utc())  # fmt: skip
    returning = insert + sql.SQL(" RETURNING ctid::text")  # where it went: see WRITTEN
    return ClientCursor(runner.conn).mogrify(returning, values)


def _row_ages(runner: PgRunner) -> str:
    return _with_names(runner, ROW_AGES)


def _hooked(runner: PgRunner) -> str:
    return _with_names(runner, HOOKED, 1)


def _with_names(runner: PgRunner, text: str, times: int = 2) -> str:
    conn, tables = runner.conn, runner.tables
    names = (tables.table.as_string(conn), tables.log.as_string(conn))
    query = sql.SQL(text).format(table=tables.table, log=tables.log)
    return ClientCursor(conn).mogrify(query, names * times)


def _answers(cursor: psycopg.Cursor[Any]) -> list[list[tuple[Any, ...]]]:
    """The rows of each statement of a simple-protocol query, in order."""
    answers = [cursor.fetchall() if cursor.description else []]
    while cursor.nextset():
        answers.append(cursor.fetchall() if cursor.description else [])
    return answers
