"""`apply_empty` and `apply_sample` on PostgreSQL (`--engine postgresql`): the migrations on a
throwaway database of the `--server-url` server (ci.checks.pg_engine), dropped after the run.

apply_empty: every migration (main track, then seeds) as a case with its time and rows, then
the validation of ci.checks.pg_validate. apply_sample: the migrations up to the fixture's
`-- @sample-version N` and the fixture, or a pg_dump archive restored (ci.checks.pg_sample),
then each pending migration as a case, compared with the sample value by value (rows lost,
values changed or turned NULL, as on SQLite); then the same validation.
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
    refuse_sqlite_only,
    validate,
)
from ci.checks.validate import catalog_cases, load_invariants, options_from
from ci.core.errors import UsageError
from ci.core.findings import Case, Report
from ci.core.model import Catalog, read_ahead

if TYPE_CHECKING:
    from ci.checks.sample import Sample
    from ci.db.postgres.runner import PgRunner

EMPTY, SAMPLE = "apply_empty", "apply_sample"


def apply_empty_args(args: argparse.Namespace) -> Report:
    """`python -m ci.apply_empty --engine postgresql`: the parsed options, checked first."""
    options = options_from(args)
    refuse_sqlite_only(options)
    if args.explain:
        raise UsageError("--explain is not available with --engine postgresql yet")
    # --base-ref only narrows the schema-change findings (MG6xx), which PostgreSQL does not
    # report yet: every migration is applied and judged either way, so a branch's CI and its
    # pre-push hook (which pass it) run the same check as without it.
    return apply_empty(args.migrations_dir, options, required_server(args.server_url))


def apply_empty(root: Path, options: Options, server_url: str) -> Report:
    catalog = discover_for(root, POSTGRESQL)
    invariants = load_invariants(options)
    cases = catalog_cases(EMPTY, catalog)
    if cases:
        return Report(EMPTY, cases)
    migrations = catalog.all_migrations()
    read_ahead(m.file for m in migrations)
    with throwaway_connection(server_url, ahead=[m.file for m in migrations]) as conn:
        run = new_pg_runner(conn, catalog, options.statement_timeout)
        cases = apply_each(EMPTY, run, migrations, options)
        if not any(case.outcome == "failed" for case in cases):
            cases += validate(EMPTY, run, options, invariants)
    return Report(EMPTY, cases)


def apply_sample_args(args: argparse.Namespace) -> Report:
    """`python -m ci.apply_sample --engine postgresql --sample FIXTURE.sql|ARCHIVE`."""
    options = options_from(args)
    refuse_sqlite_only(options)
    if args.prod_stats is not None:
        raise UsageError("--prod-stats is not available with --engine postgresql yet")
    return apply_sample(args.migrations_dir, args.sample, options, required_server(args.server_url))


def fixture_sample(path: Path) -> Sample:
    """The sample of a PostgreSQL project: a `.sql` fixture or a pg_dump archive."""
    from ci.checks.pg_sample import pg_sample  # apply_sample's: apply_empty needs none of it

    return pg_sample(path)


def apply_sample(root: Path, sample_path: Path, options: Options, server_url: str) -> Report:
    catalog = discover_for(root, POSTGRESQL)
    sample = fixture_sample(sample_path)
    invariants = load_invariants(options)
    cases = catalog_cases(SAMPLE, catalog)
    if cases:
        return Report(SAMPLE, cases)
    from ci.checks.pg_sample import apply_pending

    # the fixture's version or the archive's decides where the run starts; every migration,
    # in order, is what it may run
    ahead = [m.file for m in catalog.all_migrations()]
    with throwaway_connection(server_url, ahead=ahead) as conn:
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
    """The migrations up to the fixture's version, then the fixture: their cases; or the
    archive restored (no case: as a copied SQLite database, it is where its schema_version
    says)."""
    if sample.dump:
        from ci.checks.pg_sample import restore_dump

        restore_dump(run, sample)
        return []
    catalog: Catalog = run.catalog
    assert sample.version is not None  # fixture_sample: a fixture or an archive
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
