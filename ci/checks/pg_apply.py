"""`apply_empty` and `apply_sample` on PostgreSQL (`--engine postgresql`): the migrations on a
throwaway database of the `--server-url` server (ci.checks.pg_engine), dropped after the run.

apply_empty: every migration (main track, then seeds) as a case with its time and rows, then
the validation of ci.checks.pg_validate. apply_sample: the migrations up to the fixture's
`-- @sample-version N`, the fixture, then each pending migration as a case; a table with fewer
rows after a migration than before is a lost-rows finding (MG308) unless the migration declares
`-- @allow-row-loss <table>`; then the same validation.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ci.checks.db_options import Options
from ci.checks.pg_engine import (
    POSTGRESQL,
    discover_for,
    new_pg_runner,
    required_server,
    throwaway_connection,
)
from ci.checks.pg_validate import (
    apply_each,
    load_fixture,
    pg_apply_case,
    refuse_sqlite_only,
    validate,
)
from ci.checks.sample import Sample, open_sample
from ci.checks.validate import catalog_cases, load_invariants, not_run, options_from
from ci.core.errors import UsageError
from ci.core.findings import Case, Finding, Report
from ci.core.model import Catalog, Migration, read_ahead
from ci.db.fingerprint_diff import rows
from ci.db.fingerprint_records import Fingerprint

if TYPE_CHECKING:
    from ci.db.postgres.runner import PgRunner

EMPTY, SAMPLE = "apply_empty", "apply_sample"


def apply_empty_args(args: argparse.Namespace) -> Report:
    """`python -m ci.apply_empty --engine postgresql`: the parsed options, checked first."""
    options = options_from(args)
    refuse_sqlite_only(options)
    if args.explain or args.base_ref:
        raise UsageError("--explain and --base-ref are not available with --engine postgresql yet")
    return apply_empty(args.migrations_dir, options, required_server(args.server_url))


def apply_empty(root: Path, options: Options, server_url: str) -> Report:
    catalog = discover_for(root, POSTGRESQL)
    invariants = load_invariants(options)
    cases = catalog_cases(EMPTY, catalog)
    if cases:
        return Report(EMPTY, cases)
    migrations = catalog.all_migrations()
    read_ahead(m.file for m in migrations)
    with throwaway_connection(server_url) as conn:
        run = new_pg_runner(conn, catalog, options.statement_timeout)
        cases = apply_each(EMPTY, run, migrations, options)
        if not any(case.outcome == "failed" for case in cases):
            cases += validate(EMPTY, run, options, invariants)
    return Report(EMPTY, cases)


def apply_sample_args(args: argparse.Namespace) -> Report:
    """`python -m ci.apply_sample --engine postgresql --sample FIXTURE.sql`."""
    options = options_from(args)
    refuse_sqlite_only(options)
    if args.prod_stats is not None:
        raise UsageError("--prod-stats is not available with --engine postgresql yet")
    return apply_sample(args.migrations_dir, args.sample, options, required_server(args.server_url))


def fixture_sample(path: Path) -> Sample:
    """The sample of a PostgreSQL project: a `.sql` fixture (a SQLite file cannot be loaded)."""
    if path.suffix.lower() != ".sql":
        raise UsageError(
            f"{path}: with --engine postgresql the sample is a .sql fixture starting with "
            "'-- @sample-version N'"
        )
    return open_sample(path)


def apply_sample(root: Path, sample_path: Path, options: Options, server_url: str) -> Report:
    catalog = discover_for(root, POSTGRESQL)
    sample = fixture_sample(sample_path)
    invariants = load_invariants(options)
    cases = catalog_cases(SAMPLE, catalog)
    if cases:
        return Report(SAMPLE, cases)
    with throwaway_connection(server_url) as conn:
        run = new_pg_runner(conn, catalog, options.statement_timeout)
        cases = prepare(SAMPLE, run, sample, options)
        if not any(case.outcome == "failed" for case in cases):
            cases += apply_pending(run, sample, options)
        if not any(case.outcome == "failed" for case in cases):
            cases += validate(SAMPLE, run, options, invariants)
    return Report(SAMPLE, cases)


def prepare(
    check: str, run: PgRunner, sample: Sample, options: Options, classname: str | None = None
) -> list[Case]:
    """The migrations up to the fixture's version, then the fixture: their cases."""
    catalog: Catalog = run.catalog
    assert sample.version is not None  # fixture_sample: only fixtures
    if sample.version > catalog.head:
        raise UsageError(
            f"{sample.path}:1: @sample-version {sample.version} but the highest migration is "
            f"{catalog.head:04d}"
        )
    setup = [m for m in catalog.main if m.version <= sample.version]
    cases = apply_each(check, run, setup, options, classname)
    if not any(case.outcome == "failed" for case in cases):
        cases.append(load_fixture(check, run, sample, classname))
    return cases


def apply_pending(run: PgRunner, sample: Sample, options: Options) -> list[Case]:
    """Each pending migration as a case; rows it loses without declaring so are a finding."""
    from ci.db.postgres.fingerprint import fingerprint

    migrations = run.pending()
    read_ahead(m.file for m in migrations)
    cases: list[Case] = []
    for index, migration in enumerate(migrations):
        before = fingerprint(run.conn, content=False)
        case = pg_apply_case(SAMPLE, run, migration, options)
        cases.append(case)
        if case.outcome == "failed":
            why = f"not run: {migration.label} failed"
            return cases + not_run(SAMPLE, run.catalog, migrations[index + 1 :], why)
        case.findings += lost_rows(migration, sample, before, fingerprint(run.conn, content=False))
    return cases


def lost_rows(
    migration: Migration, sample: Sample, before: Fingerprint, after: Fingerprint
) -> list[Finding]:
    """A table with fewer rows after the migration (or dropped with its rows), unless the
    migration declares `-- @allow-row-loss <table>`: worded as the SQLite check's MG308."""
    findings = []
    for key, old in sorted(before.groups.items()):
        if not old.rows or migration.directives.allows_row_loss(old.name):
            continue
        new = after.groups.get(key)
        left = (new.rows or 0) if new is not None else 0
        if left >= old.rows:
            continue
        how = "" if new is not None else " (table dropped)"
        message = (
            f"table {old.name}: {rows(old.rows - left)} lost{how} in {migration.label} on the "
            f"sample {sample.path}"
        )
        hint = f"keep the rows or declare -- @allow-row-loss {old.name}"
        findings.append(Finding(SAMPLE, "MG308", str(migration.path), None, message, hint))
    return findings
