"""What a run will do, decided before it changes anything: which migrations are pending and in
what order, what each records, and the refusals (duplicate numbers, edited applied files, files
out of order, files that cannot run).

Everything here reads the catalog and the applied rows it is given; nothing touches a database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import suppress
from functools import lru_cache

from ci.core.model import (
    Catalog,
    InputError,
    Migration,
    SqlFile,
    read_ahead,
)
from ci.core.sqltext import Statement, code_fingerprint
from ci.db.bookkeeping import AppliedRow, DirtyMark, Entry
from ci.db.outcomes import MigrationFailed, RunRefused


def entry_for(
    migration: Migration, *, with_code_hash: bool = True, engine: str = "sqlite"
) -> Entry:
    """The bookkeeping identity and hashes of a migration file.

    The code hash only ever serves to say how an applied file was edited later; a check's
    throwaway database is never asked, so it goes without (it tokenises the whole file)."""
    return Entry(
        version=migration.version,
        migration_type=migration.kind,
        description=migration.slug,
        file_hash=migration.file.checksum,
        code_hash=_code_hash(migration.file.text, engine) if with_code_hash else None,
    )


@lru_cache(maxsize=4096)
def _code_hash(text: str, engine: str) -> str:
    """code_fingerprint, once per file text (a round trip applies each migration twice). Every
    caller passes both arguments positionally: the cache keys on the arguments as spelled, so
    `(text)` and `(text, "sqlite")` would each tokenise the file."""
    return code_fingerprint(text, engine)


def read_files_ahead(
    pending: list[Migration], *, with_code_hash: bool, engine: str = "sqlite"
) -> None:
    """model.read_ahead, plus the code hash recorded for each file (it tokenises the file):
    the one entry_for then finds in the cache."""
    read_ahead(m.file for m in pending)
    if with_code_hash:
        for migration in pending:
            with suppress(InputError):
                _code_hash(migration.file.text, engine)


# --- what is pending --------------------------------------------------------------------------


def pending(catalog: Catalog, rows: Iterable[AppliedRow], target: int | None) -> list[Migration]:
    """Main-track migrations not applied (up to target), then seeds if the run ends at head."""
    done = {(row.track, row.version) for row in rows}
    main = [
        m
        for m in catalog.main
        if (m.track, m.version) not in done and (target is None or m.version <= target)
    ]
    seeds: list[Migration] = []
    if target is None or target >= catalog.head:
        seeds = [m for m in catalog.seeds if (m.track, m.version) not in done]
    return main + seeds


def resume_first(
    catalog: Catalog, marks: Iterable[DirtyMark], pending: list[Migration]
) -> list[Migration]:
    """The migrations of open dirty marks go first; a mark whose migration is gone fails."""
    files = {(m.track, m.version): m for m in catalog.all_migrations()}
    first: list[Migration] = []
    for mark in marks:
        migration = files.get((mark.track, mark.version))
        if migration is None:
            raise RunRefused(
                f"dirty mark for {mark.label} ({mark.description}) but its file is gone; "
                "fix the database by hand, then --force-clean"
            )
        if migration not in first:
            first.append(migration)
    return first + [m for m in pending if m not in first]


def missing_files(catalog: Catalog, rows: Iterable[AppliedRow]) -> list[str]:
    """A warning for each applied migration whose file is gone."""
    present = {(m.track, m.version) for m in catalog.all_migrations()}
    return [
        f"warning: {row.label} {row.description} is applied but its file is missing "
        f"from {catalog.root}"
        for row in rows
        if (row.track, row.version) not in present
    ]


# --- refusals ---------------------------------------------------------------------------------


def out_of_order(pending: list[Migration], top: int) -> list[str]:
    """Pending main-track files numbered below the newest applied one."""
    return [
        f"{m.path}: {m.label} is not applied but {top:04d} already is; migrations apply "
        f"in order: renumber it above {top:04d}"
        for m in pending
        if m.track == "main" and m.version < top
    ]


# --- files that cannot run --------------------------------------------------------------------


def check_file(file: SqlFile, migration: Migration | None) -> None:
    """MigrationFailed naming the first reason the file cannot be run (see file_problems)."""
    problems = file_problems(file, migration)
    if problems:
        where, _, message = problems[0].removeprefix(str(file.path)).partition(": ")
        line = where.removeprefix(":")
        raise MigrationFailed(file.path, int(line) if line.isdigit() else None, message)


def file_problems(file: SqlFile, migration: Migration | None) -> list[str]:
    """Why a file cannot be run, as `path[:line]: message` lines ([] when it can)."""
    try:
        statements = file.statements
        directives = file.directives
    except InputError as error:
        return [str(error)]
    # No statement (comments only, or 0 bytes) is a valid no-op: applied and recorded like any
    # other, so a numbering shared with other engines keeps no gap.
    if migration is not None and directives.no_transaction:
        refused = _savepoints(file, statements)
        if refused:
            return refused
    if migration is not None and directives.batch is not None:
        return _batch_problems(file, statements)
    return []


def rollback_problems(migration: Migration) -> list[str]:
    """Why `migration`'s rollback file cannot undo it: an empty rollback undoes only a no-op."""
    rollback = migration.rollback
    assert rollback is not None
    problems = file_problems(rollback, None)
    if problems or rollback.statements:
        return problems
    try:
        no_op = not migration.file.statements
    except InputError:
        no_op = False
    if no_op:
        return []
    return [
        f"{rollback.path}: empty rollback (no SQL statement) of {migration.label}, which "
        "changes the database; write the statements that undo it"
    ]


def _savepoints(file: SqlFile, statements: list[Statement]) -> list[str]:
    """A @no-transaction file's savepoint statements, refused before its first statement runs
    (each of its statements commits on its own: the run could not undo the ones before)."""
    from ci.db.gatekeeper import NO_TRANSACTION_SAVEPOINT, classify  # not on a no-op run's path
    from ci.db.statements import leading_word

    return [
        f"{file.path}:{statement.line}: {NO_TRANSACTION_SAVEPOINT}"
        for statement in statements
        if leading_word(statement) in ("SAVEPOINT", "RELEASE", "ROLLBACK", "EXPLAIN")
        and (classify(statement.sql) or (0,))[0] == sqlite3.SQLITE_SAVEPOINT
    ][:1]


def _batch_problems(file: SqlFile, statements: list[Statement]) -> list[str]:
    from ci.db.batch_loop import batch_problems  # @batch is rare: not on every run's start-up

    return batch_problems(file, statements)
