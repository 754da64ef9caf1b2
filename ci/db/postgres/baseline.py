"""`ci.migrate --database-url ... --baseline N` and `--status --detect`: SQLite's (ci.db.baseline)
on PostgreSQL.

What 0001..N create is learnt by applying them, with the real PostgreSQL runner, to a throwaway
database on the server of `--server-url` (or $MIGRATION_GUARD_SERVER_URL): created from
template0 and always dropped (ci.db.postgres.throwaway). Its catalogue fingerprint
(ci.db.postgres.fingerprint, which leaves the runner's own tables out) is compared with the
user's database as on SQLite (ci.db.baseline_shape), in PostgreSQL's words
(ci.db.postgres.fingerprint_wording). The rows and the log line are written in ONE
transaction, under the runner's advisory lock (another runner waits), after the schema has been
read again inside it: a change made meanwhile by hand refuses the baseline, nothing written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from ci.core.model import Catalog, InputError, Migration
from ci.db.baseline import compare_steps, looks_applied
from ci.db.baseline_shape import (
    BASELINE_BY,
    apply_to_learn,
    chosen_migrations,
    clash_line,
    compare,
    forced_note,
    learn,
    recorded_line,
    refused,
    shape_of,
    span_of,
    warn_unprovable,
)
from ci.db.bookkeeping import now_utc
from ci.db.deploy import database_at
from ci.db.dirty import dirty_message
from ci.db.fingerprint_records import Fingerprint
from ci.db.outcomes import CannotRun, RunRefused
from ci.db.postgres import steps
from ci.db.postgres.connect import open_target
from ci.db.postgres.fingerprint import describe_differences, schema_fingerprint
from ci.db.postgres.runner import PgRunner
from ci.db.postgres.throwaway import throwaway
from ci.db.records import Entry
from ci.db.status import Detection

NO_SERVER = (
    "--baseline with --database-url learns what the migrations create on a throwaway database: "
    "give --server-url postgresql://USER@HOST:PORT/DB (a role that may create databases) or "
    "set $MIGRATION_GUARD_SERVER_URL"
)


def adopt(
    runner: PgRunner,
    where: str,
    version: int,
    *,
    server_url: str | None,
    force: bool,
    out: TextIO,
    err: TextIO,
) -> bool:
    """Record 0001..N as applied without running them, if the database has their shape (or
    anyway, loudly, with `force`). True when it refused."""
    if server_url is None:
        raise CannotRun(NO_SERVER)
    chosen = chosen_migrations(runner.catalog, version)
    span = span_of(chosen)
    _refuse_recorded_or_dirty(runner, where, chosen)
    print(f"{where}: comparing with what {span} create on a throwaway database", file=out)
    expected, unprovable = expected_print(runner.catalog, chosen, server_url)
    found = shape_of(schema_fingerprint(runner.conn))
    comparison = compare(expected, found, describe=describe_differences)
    if refused(comparison, where, span, version, force=force, out=out, err=err):
        return True
    record(runner, where, chosen, checked=found, forced_over=comparison.differences)
    warn_unprovable(unprovable, err)
    print(recorded_line(span, database_at(runner)), file=out)
    return False


def _refuse_recorded_or_dirty(runner: PgRunner, where: str, chosen: list[Migration]) -> None:
    if runner.tables.state(runner.conn) == "foreign":
        raise InputError(runner.tables.foreign(runner.conn))
    clash = clash_line(runner.applied(), where, chosen)
    if clash is not None:
        raise RunRefused(clash)
    marks = runner.dirty()
    if marks:
        raise RunRefused("\n".join(dirty_message(mark) for mark in marks))


def expected_print(
    catalog: Catalog, chosen: list[Migration], server_url: str
) -> tuple[Fingerprint, list[Migration]]:
    """The shape `chosen` create, applied one by one by the real runner to a throwaway
    database (dropped afterwards), and those that change none of it (see `learn`): one
    catalogue read per migration, on the throwaway database."""
    with scratch(catalog, server_url) as (step, start):
        return learn(step, chosen, start)


def detect(runner: PgRunner, server_url: str | None) -> Detection:
    """`--status --detect`: each pending main-track migration, applied after those before it
    to a throwaway database, compared with the user's database (ci.db.baseline's, with
    PostgreSQL's catalogue)."""
    if server_url is None:
        raise CannotRun(NO_SERVER.replace("--baseline", "--status --detect", 1))
    rows = runner.applied()
    applied = {row.version for row in rows if row.track == "main"}
    real = shape_of(schema_fingerprint(runner.conn))
    with scratch(runner.catalog, server_url) as (step, start):
        steps, failure = compare_steps(step, runner.catalog, applied, real, start)
    return Detection(steps, failure, looks_applied(steps), bool(applied))


@contextmanager
def scratch(
    catalog: Catalog, server_url: str
) -> Iterator[tuple[Callable[[Migration], Fingerprint], Fingerprint]]:
    """A function that applies one migration with the real runner to a throwaway database
    (dropped afterwards) and returns its shape, and its shape before any."""
    with throwaway(server_url) as url:
        conn = open_target(url)
        try:
            # the runner's notices (a slow step) are about the throwaway run
            runner = PgRunner(conn, catalog, out=io.StringIO(), throwaway=True)

            def step(migration: Migration) -> Fingerprint:
                apply_to_learn(runner.apply, migration, "a throwaway database")
                return shape_of(schema_fingerprint(conn))

            yield step, shape_of(schema_fingerprint(conn))
        finally:
            conn.close()


def record(
    runner: PgRunner,
    where: str,
    chosen: list[Migration],
    *,
    checked: Fingerprint,
    forced_over: list[str],
) -> None:
    """Write one row per chosen migration and the `baseline` log line, in one transaction.
    `checked` is the database's shape as compared: inside the transaction it must still
    have it. A refusal rolls everything back, the runner's tables created here included."""
    conn, tables = runner.conn, runner.tables
    with steps.transaction(runner):
        if shape_of(schema_fingerprint(conn)) != checked:
            raise RunRefused(
                f"{where}: its schema changed while the baseline compared it (by hand?); "
                "nothing was changed: run the baseline again"
            )
        clash = clash_line(runner.applied(), where, chosen)
        if clash is not None:
            raise RunRefused(clash)
        if tables.state(conn) == "missing":
            tables.create(conn)
        at = now_utc()
        for migration in chosen:
            entry = runner.entry(migration)
            tables.record(conn, entry, ms=None, rows=None, at=at, by=BASELINE_BY)
        last = chosen[-1]
        summary = Entry(last.version, last.kind, f"baseline {span_of(chosen)}")
        tables.log_attempt(conn, "baseline", summary, error=forced_note(forced_over))
