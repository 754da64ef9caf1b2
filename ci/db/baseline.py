"""Adopting a database that already has the tables but no history (`ci.migrate --baseline N`,
`ci.migrate --status --detect`).

What migrations 0001..N create is learnt by running them, with the real runner, on a scratch
database in a temporary directory; its schema fingerprint is then compared with the user's
database. Only the shape counts (tables, columns, indexes, foreign keys, views, triggers), never
the rows. Objects the user's database has and the migrations do not create (an application's
own tables, an extra index) are fine: they are named in a note and left alone. Anything the
migrations create that is missing or different is a mismatch.

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

from ci.core.model import Catalog, InputError, Migration
from ci.db import bookkeeping
from ci.db.bookkeeping import APPLIED_BY, Entry
from ci.db.deploy import Target, database_at, maybe_backup
from ci.db.dirty import dirty_message
from ci.db.fingerprint import (
    Fingerprint,
    Rows,
    TablePrint,
    Wording,
    describe_differences,
    read_groups,
    schema_fingerprint,
)
from ci.db.outcomes import CannotRun
from ci.db.prepare import create_or_upgrade
from ci.db.runner import MigrationFailed, Runner, RunRefused, connect, entry_for
from ci.db.tables import UpgradeRefused

SCRATCH_PREFIX = "migration-guard-baseline-"
# how a difference reads: what the migrations create -> what the database has
IN_DATABASE = Wording(
    missing="missing",
    extra="only in the database",
    extra_column="only in the database",
)


class Comparison(NamedTuple):
    """The user's database against what the migrations create."""

    differences: list[str]  # missing or different: a mismatch
    extras: list[str]  # only in the user's database: fine, said in a note

    def note(self, span: str) -> str:
        names = ", ".join(self.extras)
        return f"note: {names}: in the database but not created by {span}; left alone"


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
    span = f"{chosen[0].label}..{chosen[-1].label}"
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
        expected = expected_print(catalog, chosen, setup=target.setup)
        with runner.session.guard():
            found = shape_of(schema_fingerprint(conn))
        comparison = compare(expected, found)
        if comparison.extras:
            print(comparison.note(span), file=out)
        if comparison.differences and not force:
            _refuse(comparison.differences, db, span, version, err)
            return True
        for line in comparison.differences:
            print(
                f"migrate: WARNING: --force: recording {span} although the database differs: "
                f"{line}",
                file=err,
            )
        runner.session.check_writable()
        maybe_backup(runner, target, out)
        with runner.session.guard():
            record(conn, catalog, chosen, checked=found, forced_over=comparison.differences)
        print(
            f"OK: recorded {span} as applied without running them; database at "
            f"{database_at(runner)} (seeds are not recorded: the next migrate that reaches the "
            "head runs them)",
            file=out,
        )
        return False
    finally:
        conn.close()


def _refuse(differences: list[str], db: Path, span: str, n: int, err: TextIO) -> None:
    print(
        f"migrate: {db} does not have the shape {span} create (migrations -> database):",
        file=err,
    )
    for line in differences:
        print(f"  {line}", file=err)
    print(
        f"migrate: nothing was changed; make the database match, or record {span} anyway "
        f"with --baseline {n} --force",
        file=err,
    )


# --- which migrations a baseline records ----------------------------------------------------


def chosen_migrations(catalog: Catalog, version: int) -> list[Migration]:
    """The main-track migrations up to `version`; RunRefused (one line) when there is none
    numbered `version`, when one below it is missing, or when `version` is beyond the head."""
    if version > catalog.head:
        raise RunRefused(
            f"--baseline {version:04d} is beyond the head ({catalog.head:04d}) of {catalog.root}"
        )
    chosen = [m for m in catalog.main if m.version <= version]
    numbers = {m.version for m in chosen}
    first = min(numbers, default=version)
    missing = [n for n in range(first, version + 1) if n not in numbers]
    if missing:
        names = ", ".join(f"{n:04d}" for n in missing)
        raise RunRefused(
            f"--baseline {version:04d}: no migration file numbered {names} in {catalog.root}; "
            "a baseline records only migrations whose files are there"
        )
    return chosen


def already_recorded(conn: sqlite3.Connection, chosen: Sequence[Migration]) -> str | None:
    """One line if schema_version already has a row for one of the chosen migrations."""
    wanted = {m.version for m in chosen}
    applied = [r for r in bookkeeping.read_applied(conn) if r.track == "main"]
    clash = sorted(r.version for r in applied if r.version in wanted)
    if not clash:
        return None
    names = ", ".join(f"{v:04d}" for v in clash)
    verb = "is" if len(clash) == 1 else "are"
    return (
        f"{bookkeeping.database_file(conn)}: {names} {verb} already applied (in "
        f"{bookkeeping.TABLE}); --baseline records only migrations the database has no row for "
        "(see --status)"
    )


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
                try:
                    runner.apply(migration)
                except (MigrationFailed, InputError) as failure:
                    raise RunRefused(
                        f"{failure} (while applying it to a scratch database to learn what it "
                        "creates; nothing was changed)"
                    ) from None
                return shape_of(Fingerprint(read_groups(conn, None, content=None, shapes=shapes)))

            yield step
        finally:
            conn.close()


def expected_print(
    catalog: Catalog, chosen: Sequence[Migration], *, setup: str | None
) -> Fingerprint:
    printed = Fingerprint()
    with scratch(catalog, setup=setup) as step:
        for migration in chosen:
            printed = step(migration)
    return printed


def shape_of(printed: Fingerprint) -> Fingerprint:
    """The fingerprint with column types compared as SQLite reads them: `integer` and
    `INTEGER` declare the same column (a database built by hand rarely spells them alike)."""
    groups = {}
    for key, group in printed.groups.items():
        columns = tuple(c._replace(type=" ".join(c.type.upper().split())) for c in group.columns)
        groups[key] = group._replace(columns=columns)
    return Fingerprint(groups)


# --- comparing -------------------------------------------------------------------------------


def compare(expected: Fingerprint, real: Fingerprint) -> Comparison:
    """What the migrations create (`expected`) against the user's database (`real`)."""
    trimmed: dict[str, TablePrint] = {}
    extras: list[str] = []
    for key, group in sorted(real.groups.items()):
        wanted = expected.groups.get(key)
        if wanted is None:
            extras.append(f"{group.kind} {group.name}")
            continue
        trimmed[key], extra = _without_extra_objects(group, wanted)
        extras += extra
    differences = describe_differences(
        expected, Fingerprint(trimmed), only=expected.groups, wording=IN_DATABASE
    )
    return Comparison(differences, extras)


def _without_extra_objects(group: TablePrint, wanted: TablePrint) -> tuple[TablePrint, list[str]]:
    """The group without the indexes and triggers the migrations do not create (those are
    extras), so that only the rest counts as a difference."""
    names = {(o.type, o.name.lower()) for o in wanted.objects}
    keep, extras = [], []
    for o in group.objects:
        if o.type in ("index", "trigger") and (o.type, o.name.lower()) not in names:
            extras.append(f"{o.type} {o.name}")
        else:
            keep.append(o)
    wanted_indexes = {i.name.lower() for i in wanted.indexes}
    indexes = tuple(i for i in group.indexes if i.origin != "c" or i.name.lower() in wanted_indexes)
    return group._replace(objects=tuple(keep), indexes=indexes), extras


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
        applied_by = f"{APPLIED_BY} (baseline: recorded, not run)"
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
                    applied_by,
                    entry.code_hash,
                ),
            )
            bookkeeping.check_written(conn, cursor.rowcount, bookkeeping.TABLE)
        last = chosen[-1]
        span = f"{chosen[0].label}..{last.label}"
        # the log has no column for "forced"; error is its free-text column, and a forced
        # baseline is the one whose error says what was overridden
        forced = (
            f"--force: recorded although the database differs: {'; '.join(forced_over)}"
            if forced_over
            else None
        )
        summary = Entry(last.version, last.kind, f"baseline {span}")
        bookkeeping.log(conn, "baseline", summary, error=forced)
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
    steps: list[Step] = []
    before = Fingerprint()
    with scratch(catalog, setup=setup) as step:
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
