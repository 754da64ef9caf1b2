"""`python -m ci.apply_empty`: every migration on a fresh database, then validated.

The database lives in a temporary directory and is thrown away, so it is opened without
per-commit fsync: each migration is still one transaction with its schema_version row, exactly
as the runner applies it in production. Each migration is a test case with its time and rows.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ci.checks import options as common_options
from ci.checks.base import Check
from ci.checks.db_options import OPTIONS, Options
from ci.checks.options import Option
from ci.checks.schema_changes import Analysis
from ci.checks.validate import (
    apply_case,
    catalog_cases,
    could_not_run,
    load_invariants,
    new_runner,
    not_run,
    options_from,
    validate,
)
from ci.core.findings import Case, Report
from ci.core.model import Catalog, InputError, SqlFile, discover, read_ahead
from ci.core.scratch_dir import scratch_directory
from ci.db import runner
from ci.db.invariants import Invariant

NAME = "apply_empty"


EXPLAIN = Option(
    "--explain",
    action="store_true",
    help="list every schema change of every migration (a reviewer's changelog) in the text "
    "and JSON reports",
)


def apply_empty(
    root: Path, options: Options, *, explain: bool = False, base_ref: str | None = None
) -> Report:
    """Apply main track then seeds to a fresh private database and validate the result."""
    catalog = discover(root)
    judged = changed_since(base_ref, catalog) if base_ref else None
    invariants = load_invariants(options)
    with scratch_directory("migration-guard-") as tmp:
        conn = runner.connect(tmp / "apply_empty.db", setup=options.setup, durable=False)
        try:
            with could_not_run():
                cases = apply_all(
                    conn, catalog, options, invariants, explain=explain, judged=judged
                )
        finally:
            conn.close()
    return Report(NAME, cases)


def apply_all(
    conn: sqlite3.Connection,
    catalog: Catalog,
    options: Options,
    invariants: list[Invariant],
    *,
    explain: bool = False,
    judged: set[Path] | None = None,
) -> list[Case]:
    """`judged`: the migrations whose schema changes are findings (None: all); the others'
    changes still reach the changelog."""
    run = new_runner(conn, catalog, options)
    cases = catalog_cases(NAME, run.catalog)
    if cases:
        return cases
    migrations = catalog.all_migrations()
    read_ahead(m.file for m in migrations)
    analysis = Analysis(NAME, conn, explain=explain)  # schema changes (MG601-MG608)
    for index, migration in enumerate(migrations):
        with analysis.watching(migration):
            case = apply_case(NAME, run, migration, options)
        applied = case.outcome != "failed"  # a schema-change finding fails the case, not the run
        case.settled = judged is not None and migration.path not in judged
        analysis.judge(case, migration, findings=not case.settled)
        cases.append(case)
        if not applied:
            why = f"not run: {migration.label} failed"
            return cases + not_run(NAME, catalog, migrations[index + 1 :], why)
    return cases + validate(NAME, conn, run, options, invariants)


def changed_since(ref: str, catalog: Catalog) -> set[Path]:
    """The migrations added or changed since the merge base of HEAD and `ref`: the ones this
    branch brings. The others are deployed already; a schema-change finding on them would repeat
    on every run of every branch and could not be acted on."""
    from ci.core.gitrefs import blob_id, list_base_files

    before = list_base_files(ref, catalog.root)
    return {
        m.path
        for m in catalog.all_migrations()
        if before.get(m.path.relative_to(catalog.root).as_posix()) != _blob(m.file, blob_id)
    }


def _blob(file: SqlFile, blob_id: Callable[[bytes], str]) -> str | None:
    try:
        return blob_id(file.data)
    except InputError:  # unreadable: judged (its own step reports it)
        return None


def on_postgresql(args: argparse.Namespace) -> Report:
    """The PostgreSQL driver (ci/checks/pg_apply.py), imported only for such a project."""
    from ci.checks.pg_apply import apply_empty_args

    return apply_empty_args(args)


CHECK = Check(
    NAME,
    __doc__,
    (
        *OPTIONS,
        EXPLAIN,
        common_options.base_ref(
            "schema-change findings (MG6xx) only for the migrations added or changed since "
            "this git ref (e.g. origin/main); --explain still lists every change"
        ),
        common_options.engine(),
        common_options.server_url(),
    ),
    lambda a: (
        on_postgresql(a)
        if a.engine == "postgresql"
        else apply_empty(a.migrations_dir, options_from(a), explain=a.explain, base_ref=a.base_ref)
    ),
)
