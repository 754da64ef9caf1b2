"""Adopting a database that already has the tables but no history (`ci.migrate --baseline N`,
`ci.migrate --status --detect`).

What migrations 0001..N create is learnt by running them, with the real runner, on a scratch
database in a temporary directory; its schema fingerprint is then compared with the user's
database as ci.db.baseline_shape says (shared with PostgreSQL's ci.db.postgres.baseline): only
the shape counts, extras are named in a note, anything missing or different is a mismatch.

Seeds are never recorded by a baseline: they are idempotent and run again at the head, so the
next `migrate` that reaches the head applies them (and records them) as usual.
"""

from __future__ import annotations

import io
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple, TextIO

from ci.core.model import Catalog, Migration
from ci.db import bookkeeping
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
from ci.db.bookkeeping import Entry
from ci.db.deploy import Target, database_at, maybe_backup
from ci.db.dirty import dirty_message
from ci.db.fingerprint import (
    Fingerprint,
    Rows,
    TablePrint,
    read_groups,
    schema_fingerprint,
)
from ci.db.outcomes import CannotRun
from ci.db.prepare import create_or_upgrade
from ci.db.runner import Runner, RunRefused, connect, entry_for
from ci.db.tables import UpgradeRefused

SCRATCH_PREFIX = "migration-guard-baseline-"


# --- the operation ---------------------------------------------------------------------------


def adopt(
    target: Target, catalog: Catalog, version: int, *, force: bool, out: TextIO, err: TextIO
) -> bool:
    """`ci.migrate --baseline N`: record 0001..N as applied without running them, if the
    database has their shape (or anyway, loudly, with `force`). True when it refused."""
    db = target.db
    if not db.exists():
        raise CannotRun(
            f"{db}: no such database; --baseline adopts an existing one (a new database needs "
            "only migrate)"
        )
    chosen = chosen_migrations(catalog, version)
    span = span_of(chosen)
    conn = connect(db, setup=target.setup, timeout=target.busy_timeout)
    try:
        runner = Runner(conn, catalog, out=err)
        with runner.session.guard():
            clash = already_recorded(conn, chosen)
            marks = bookkeeping.open_marks(conn)
        if clash is not None:
            raise RunRefused(clash)
        if marks:
            raise RunRefused("\n".join(dirty_message(mark) for mark in marks))
        print(f"{db}: comparing with what {span} create on a scratch database", file=out)
        expected, unprovable = expected_print(catalog, chosen, setup=target.setup)
        with runner.session.guard():
            found = shape_of(schema_fingerprint(conn))
        comparison = compare(expected, found)
        if refused(comparison, db, span, version, force=force, out=out, err=err):
            return True
        runner.session.check_writable()
        maybe_backup(runner, target, out)
        with runner.session.guard():
            record(conn, catalog, chosen, checked=found, forced_over=comparison.differences)
        warn_unprovable(unprovable, err)
        print(recorded_line(span, database_at(runner)), file=out)
        return False
    finally:
        conn.close()


def already_recorded(conn: sqlite3.Connection, chosen: Sequence[Migration]) -> str | None:
    """One line if schema_version already has a row for one of the chosen migrations."""
    rows = bookkeeping.read_applied(conn)
    return clash_line(rows, bookkeeping.database_file(conn), chosen)


# --- what the migrations create --------------------------------------------------------------


@contextmanager
def scratch(catalog: Catalog, *, setup: str | None) -> Iterator[Callable[[Migration], Fingerprint]]:
    """A function that applies one migration to a scratch database with the real runner and
    returns the scratch database's schema fingerprint; the scratch is deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as tmp:
        conn = connect(Path(tmp) / "scratch.db", setup=setup, durable=False)
        # each group's PRAGMAs are read again only when its sqlite_master rows change: a step
        # touches a few tables, and --detect reads the whole schema after every step
        shapes: dict[Rows, TablePrint] = {}
        try:
            # the runner's notices (an ignored BEGIN, a slow step) are about the scratch run
            runner = Runner(conn, catalog, out=io.StringIO(), throwaway=True)

            def step(migration: Migration) -> Fingerprint:
                apply_to_learn(runner.apply, migration, "a scratch database")
                return shape_of(Fingerprint(read_groups(conn, None, content=None, shapes=shapes)))

            yield step
        finally:
            conn.close()


def expected_print(
    catalog: Catalog, chosen: Sequence[Migration], *, setup: str | None
) -> tuple[Fingerprint, list[Migration]]:
    """What `chosen` create, and those of them that change no shape (see `learn`)."""
    with scratch(catalog, setup=setup) as step:
        return learn(step, chosen, Fingerprint())


# --- recording -------------------------------------------------------------------------------


def _create_or_upgrade(conn: sqlite3.Connection, catalog: Catalog) -> None:
    """The bookkeeping tables, as the runner makes them; a refused upgrade is one line."""
    try:
        create_or_upgrade(conn, {m.version: m.kind for m in catalog.main})
    except UpgradeRefused as error:
        raise RunRefused(
            f"{bookkeeping.database_file(conn)}: cannot upgrade the existing schema_version "
            f"table: {error}; nothing was changed (change that by hand first)"
        ) from None


def record(
    conn: sqlite3.Connection,
    catalog: Catalog,
    chosen: Sequence[Migration],
    *,
    checked: Fingerprint,
    forced_over: Sequence[str] = (),
) -> None:
    """One transaction: the bookkeeping tables if needed, a schema_version row per migration
    (with its file's hash, so checksums hold from now on) and one 'baseline' log entry.

    `checked` is the database's shape as compared (shape_of): under the write lock the
    database must still have it. The caller holds no transaction; a refusal changes nothing."""
    conn.execute("BEGIN IMMEDIATE")  # the write lock first: another runner waits or we fail
    try:
        # again, now that nobody else can write: another process may have migrated meanwhile
        if shape_of(schema_fingerprint(conn)) != checked:
            raise RunRefused(
                f"{bookkeeping.database_file(conn)}: its schema changed while the baseline "
                "compared it (another process?); nothing was changed: run the baseline again"
            )
        clash = already_recorded(conn, chosen)
        if clash is not None:
            raise RunRefused(clash)
        _create_or_upgrade(conn, catalog)
        for migration in chosen:
            entry = entry_for(migration)
            cursor = conn.execute(
                bookkeeping.RECORD,
                (
                    entry.version,
                    entry.migration_type,
                    entry.description,
                    entry.file_hash,
                    bookkeeping.now_utc(),
                    None,  # no time and no rows: it did not run here
                    None,
                    BASELINE_BY,
                    entry.code_hash,
                ),
            )
            bookkeeping.check_written(conn, cursor.rowcount, bookkeeping.TABLE)
        last = chosen[-1]
        summary = Entry(last.version, last.kind, f"baseline {span_of(chosen)}")
        bookkeeping.log(conn, "baseline", summary, error=forced_note(forced_over))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
        raise


# --- status --detect --------------------------------------------------------------------------


class Step(NamedTuple):
    migration: Migration
    differences: list[str]
    changes_schema: bool


def detect(
    conn: sqlite3.Connection, catalog: Catalog, *, setup: str | None
) -> tuple[list[Step], str | None]:
    """Each pending main-track migration with what differs between the database and a scratch
    database that has every migration up to and including it (applied ones first).

    Returns the steps and, when a migration fails on the scratch database, that failure."""
    applied = {r.version for r in bookkeeping.read_applied(conn) if r.track == "main"}
    real = shape_of(schema_fingerprint(conn))
    with scratch(catalog, setup=setup) as step:
        return compare_steps(step, catalog, applied, real, Fingerprint())


def compare_steps(
    step: Callable[[Migration], Fingerprint],
    catalog: Catalog,
    applied: set[int],
    real: Fingerprint,
    start: Fingerprint,
) -> tuple[list[Step], str | None]:
    """`detect` on either engine: `step` applies a migration to the scratch database and
    returns its shape (`start`: its shape before any); `real` is the user's database's shape
    and `applied` the main-track versions it records."""
    steps: list[Step] = []
    before = start
    for migration in catalog.main:
        try:
            after = step(migration)
        except RunRefused as failure:
            return steps, str(failure)
        if migration.version not in applied:
            differences = compare(after, real).differences
            steps.append(Step(migration, differences, after != before))
        before = after
    return steps, None


def looks_applied(steps: Sequence[Step]) -> list[Step]:
    """The pending migrations up to the last one after which the scratch database has the
    shape of the user's database. One that changes no table, index, view or trigger (a data
    migration) cannot be told from the shape: it never ends the run of those that look applied."""
    last = max(
        (i for i, s in enumerate(steps) if not s.differences and s.changes_schema), default=-1
    )
    return list(steps[: last + 1])
