"""What the database checks share: running migrations as test cases, and the validation after
the last one: integrity_check, foreign_key_check, version = highest number, invariants, and the
schema snapshot (ci/checks/snapshot.py). Their options are in ci/checks/db_options.py;
`options_from` turns the parsed options into that record.

Everything here takes a connection opened by `ci.db.runner.connect`; nothing opens one itself.
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ci.checks.db_options import Options
from ci.checks.snapshot import snapshot_case, snapshot_refusal, write_snapshot_case
from ci.core.errors import UsageError
from ci.core.findings import RUNAWAY, Case, Finding
from ci.core.model import Catalog, Migration
from ci.db import health, runner
from ci.db.gatekeeper import gate_of
from ci.db.invariants import Invariant, parse_invariants
from ci.db.sqlite_hints import fix_for

AFTER_INTEGRITY = health.Wording(
    "MG303",
    "integrity_check after the migrations",
    "find the migration that corrupts the database (a writable_schema edit?)",
)
AFTER_FOREIGN_KEYS = health.Wording(
    "MG304",
    "foreign_key_check after the migrations",
    "delete or fix the orphan rows in a data migration, or correct the REFERENCES",
)
AFTER_INVARIANT = health.Wording(
    "MG306", "invariant", "fix the migration that breaks it, or the data it leaves behind"
)


def options_from(args: argparse.Namespace) -> Options:
    if args.write_snapshot and args.schema_snapshot is None:
        raise UsageError("--write-snapshot needs --schema-snapshot FILE")
    if args.write_snapshot:
        problem = snapshot_refusal(args.schema_snapshot, getattr(args, "sample", None))
        if problem is not None:
            raise UsageError(problem)
    if args.setup:
        runner.load_setup(args.setup)  # a missing callable is reported before any work
    return Options(
        setup=args.setup,
        invariants=args.invariants,
        snapshot=args.schema_snapshot,
        write_snapshot=args.write_snapshot,
        warn_slow=args.warn_slow,
        # only the checks that read a --sample database wait for a lock (apply_empty has none)
        busy_timeout=getattr(args, "busy_timeout", 30.0),
        statement_timeout=args.statement_timeout,
    )


def load_invariants(options: Options) -> list[Invariant]:
    if options.invariants is None:
        return []
    if not options.invariants.is_file():
        raise UsageError(f"{options.invariants}: invariants file not found")
    return parse_invariants(options.invariants)


def new_runner(conn: sqlite3.Connection, catalog: Catalog, options: Options) -> runner.Runner:
    """A runner whose notices (ignored BEGIN, ...) stay out of the check's report, on a
    check's private database (no schema_version_log rows for successful applies)."""
    return runner.Runner(
        conn,
        catalog,
        out=io.StringIO(),
        warn_slow=options.warn_slow,
        throwaway=True,
        statement_timeout=options.statement_timeout,
    )


@contextmanager
def could_not_run() -> Iterator[None]:
    """SQLite errors about the database file itself become one line and exit 2."""
    try:
        yield
    except runner.RunRefused as error:
        raise UsageError(str(error).replace("\n", "; ")) from None
    except sqlite3.Error as error:  # disk full, I/O error: the runner lets these through
        if not runner.is_environmental(error):
            raise
        raise UsageError(runner.explain(error, "the check's temporary database")) from None


# --- migrations as test cases ----------------------------------------------------------------


def case_name(migration: Migration, catalog: Catalog) -> str:
    """`0005 data/0005_migrate_patient_ids_to_mrn.sql`."""
    path, root = migration.file.location, str(catalog.root)  # location is str(path)
    relative = path[len(root) + 1 :] if path.startswith(root + os.sep) else path
    return f"{migration.label} {Path(relative).as_posix() if os.sep != '/' else relative}"


def failed_case(
    check: str, code: str, name: str, failure: runner.MigrationFailed, hint: str, kind: str
) -> Case:
    finding = Finding(check, code, failure.path, failure.line, failure.message, hint)
    return Case(name, check, path=failure.path, line=failure.line, findings=[finding], kind=kind)


def migration_case(
    check: str,
    catalog: Catalog,
    migration: Migration,
    outcome: runner.Outcome,
    warn_slow: float,
    classname: str | None = None,
) -> Case:
    case = Case(
        case_name(migration, catalog),
        classname or check,
        time=outcome.seconds,
        path=migration.file.location,
        kind=migration.kind,
        rows=outcome.rows,
    )
    if outcome.seconds > warn_slow:
        case.findings.append(
            Finding(
                check,
                "MG302",
                str(migration.path),
                None,
                f"{migration.label} took {outcome.seconds:.1f} s (more than --warn-slow "
                f"{warn_slow:g} s)",
                "batch it (-- @batch N) or plan a maintenance window",
                severity="warning",
            )
        )
    return case


def apply_case(
    check: str,
    run: runner.Runner,
    migration: Migration,
    options: Options,
    classname: str | None = None,
    *,
    on_sample: bool = False,
) -> Case:
    """Apply one migration; a passing case with its time and rows, or a failing one naming
    the file and the line of the failing statement, with a hint that fits what SQLite said
    (`on_sample`: the database holds rows, which constraint failures are then about)."""
    try:
        outcome = run.apply(migration)
    except runner.MigrationFailed as failure:
        code = "MG301"
        hint = f"{fix_for(failure.message, on_sample=on_sample)}; the migration was rolled back"
        if isinstance(failure, runner.Runaway):
            code, hint = RUNAWAY, failure.hint
        case = failed_case(
            check, code, case_name(migration, run.catalog), failure, hint, migration.kind
        )
        case.classname = classname or check
        return case
    return migration_case(check, run.catalog, migration, outcome, options.warn_slow, classname)


def not_run(check: str, catalog: Catalog, migrations: list[Migration], why: str) -> list[Case]:
    return [
        Case(case_name(m, catalog), check, path=str(m.path), kind=m.kind, skipped=why)
        for m in migrations
    ]


def catalog_cases(check: str, catalog: Catalog) -> list[Case]:
    """What stops a run before any SQL: a file that cannot be placed (a malformed name, an
    unknown folder, a symlink leaving the repository) is never skipped silently, and two files
    with one number cannot both be applied. One failing case each."""
    cases = [
        Case(
            f"{problem.code} {problem.path}",
            check,
            path=problem.path,
            findings=[
                Finding(check, problem.code, problem.path, None, problem.message, problem.hint)
            ],
        )
        for problem in catalog.problems
    ]
    for migrations in (catalog.main, catalog.seeds):
        first: dict[int, Migration] = {}
        for migration in migrations:
            other = first.setdefault(migration.version, migration)
            if other is migration:
                continue
            path = str(migration.path)
            message = f"number {migration.label} is also used by {other.path}"
            hint = "renumber one of them (python -m ci.numbering shows the next free number)"
            finding = Finding(check, "MG310", path, None, message, hint)
            cases.append(Case(f"duplicate {migration.label}", check, path=path, findings=[finding]))
    return cases


# --- validation after the last migration -----------------------------------------------------


def validate(
    check: str,
    conn: sqlite3.Connection,
    run: runner.Runner,
    options: Options,
    invariants: list[Invariant],
) -> list[Case]:
    """Cases after the last migration: integrity, foreign keys, version, invariants, snapshot.

    They read the database through a new connection, as every later user of it will: the
    migrating connection keeps the schema it built in memory, so an edit of the schema table
    behind its back (a writable_schema edit) would pass there and be "malformed" for anyone else.
    """
    root = str(run.catalog.root)
    try:
        fresh = reopened(conn, options.setup)
    except runner.CannotRun as error:
        return [unreadable_case(check, root, str(error)), _timed(lambda: version_case(check, run))]
    try:
        cases = [
            _timed(lambda: health.integrity_case(check, fresh, root, AFTER_INTEGRITY)),
            _timed(lambda: health.foreign_key_case(check, fresh, root, AFTER_FOREIGN_KEYS)),
            _timed(lambda: version_case(check, run)),
        ]
        path = str(options.invariants)
        cases += [
            _timed(
                lambda i=i: health.invariant_case(
                    check, fresh, i, path, AFTER_INVARIANT, timeout=options.statement_timeout
                )
            )
            for i in invariants
        ]
        if options.snapshot is not None:
            if options.write_snapshot:
                cases.append(_timed(lambda: write_snapshot_case(check, fresh, options.snapshot)))
            else:
                cases.append(_timed(lambda: snapshot_case(check, fresh, options)))
    finally:
        if fresh is not conn:
            fresh.close()
    return cases


def reopened(conn: sqlite3.Connection, setup: str | None) -> sqlite3.Connection:
    """A new read-only connection to `conn`'s database file (`conn` itself for an in-memory
    one). Raises CannotRun when a new connection cannot read it (a malformed schema)."""
    path = next((file for _, name, file in conn.execute("PRAGMA database_list") if name == "main"))
    if not path:
        return conn
    # the check's connection holds its lock until told otherwise (locking_mode EXCLUSIVE):
    # release it with its next read, so that another connection can read the file
    conn.execute("PRAGMA locking_mode = NORMAL")
    conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    fresh = runner.connect(path, setup=setup, readonly=True)
    gate_of(fresh).check = True  # still the check's database: the checks' rules (invariants)
    return fresh


def unreadable_case(check: str, root: str, error: str) -> Case:
    """The integrity case when a new connection cannot even read the schema."""
    case = Case("integrity_check", check, path=root)
    message = f"{AFTER_INTEGRITY.prefix}: a new connection cannot read the database: {error}"
    case.findings.append(
        Finding(check, AFTER_INTEGRITY.code, root, None, message, AFTER_INTEGRITY.hint)
    )
    return case


def _timed(make: object) -> Case:
    started = time.perf_counter()
    case: Case = make()  # type: ignore[operator]
    case.time = time.perf_counter() - started
    return case


def version_case(check: str, run: runner.Runner) -> Case:
    root = str(run.catalog.root)
    head = run.catalog.head
    current = run.current_version()
    case = Case("version", check, path=root)
    if current != head:
        case.findings.append(
            Finding(
                check,
                "MG305",
                root,
                None,
                f"schema_version says {current:04d} after the run, the highest migration is "
                f"{head:04d}",
                "every migration must record itself; do not write schema_version by hand",
            )
        )
    return case


# --- schema snapshot -------------------------------------------------------------------------
