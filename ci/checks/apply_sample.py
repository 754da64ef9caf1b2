"""`python -m ci.apply_sample --sample PATH`: the pending migrations on sample data.

PATH is a `.sql` fixture (loaded after migrating a fresh database to its `-- @sample-version N`)
or a `.db`/`.sqlite` file (copied; the original is never opened for writing); on PostgreSQL a
fixture or a `pg_dump -Fc` archive (ci.checks.pg_sample). The pending
migrations then run one by one, and every table a migration wrote is compared before and after
it, row by row and value by value (ci.checks.sample_values; a table only UPDATEd on the
columns its statements write, read from a copy of the database made before it:
ci.db.value_before): rows lost fail unless the migration declares `-- @allow-row-loss
<table>`, values changed or turned NULL unless it declares
`-- @rewrites <table>(<column>, ...)`. Then the same validation as apply_empty. Catches what an
empty database cannot: a UNIQUE index over duplicate rows, a CHECK or NOT NULL that existing rows
violate, a data migration that deletes or overwrites too much.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ci.checks import options as common_options
from ci.checks.base import Check
from ci.checks.db_options import OPTIONS, Options, busy_timeout_option
from ci.checks.impact import OPTIONS as IMPACT_OPTIONS
from ci.checks.impact import with_impact
from ci.checks.options import Option
from ci.checks.sample import Prepared, Sample, open_sample, prepare
from ci.checks.sample_values import data_findings
from ci.checks.validate import (
    apply_case,
    catalog_cases,
    could_not_run,
    load_invariants,
    not_run,
    options_from,
    validate,
)
from ci.core import fixes
from ci.core.errors import UsageError
from ci.core.findings import Case, Report
from ci.core.model import InputError, discover, read_ahead
from ci.core.scratch_dir import scratch_directory
from ci.db.fingerprint import Tracker
from ci.db.value_before import Reader, copy_before, written_images

NAME = "apply_sample"


# The hook in a project without sample data (the README's hook list has it): the push goes on.
NO_SAMPLE = (
    "no sample data (`sample:` in migration-guard.yaml, a .sql fixture, a .db file or a pg_dump "
    "-Fc archive); set one, or leave migration-apply-sample out of .pre-commit-config.yaml"
)


def work(args: argparse.Namespace) -> Report:
    if args.sample is None and fixes.by_pre_commit():
        return Report(NAME, [Case("sample", NAME, skipped=NO_SAMPLE)])
    if args.sample is None:
        raise UsageError(
            "--sample PATH is required (a .sql fixture, a .db file or a pg_dump -Fc archive), or "
            "`sample:` in migration-guard.yaml"
        )
    if args.engine == "postgresql":
        from ci.checks.pg_apply import apply_sample_args  # psycopg only for such a project

        return apply_sample_args(args)
    # --prod-stats: the production-impact estimate after the run (ci/checks/impact.py)
    return with_impact(
        args, lambda: apply_sample(args.migrations_dir, args.sample, options_from(args))
    )


def apply_sample(root: Path, sample_path: Path, options: Options) -> Report:
    catalog = discover(root)
    sample = open_sample(sample_path)
    invariants = load_invariants(options)
    with scratch_directory("migration-guard-") as tmp:
        db = Path(tmp) / "apply_sample.db"
        with could_not_run(), _named_as(db, sample_path):
            prepared = prepare(NAME, sample, db, catalog, options)
            try:
                cases = catalog_cases(NAME, prepared.run.catalog) or prepared.cases
                if not any(c.outcome == "failed" for c in cases):
                    cases += apply_pending(prepared, sample, options)
                if not any(c.outcome == "failed" for c in cases):
                    cases += validate(NAME, prepared.conn, prepared.run, options, invariants)
            finally:
                prepared.conn.close()
    return Report(NAME, cases)


@contextmanager
def _named_as(copy: Path, sample: Path) -> Iterator[None]:
    """A bad row in the copy's bookkeeping is the sample's: name the sample, not the copy."""
    try:
        yield
    except InputError as error:
        raise InputError(str(error).replace(str(copy), str(sample))) from None


def apply_pending(prepared: Prepared, sample: Sample, options: Options) -> list[Case]:
    """Each pending migration as a case, failing also when it loses rows or changes values it
    did not declare."""
    run = prepared.run
    migrations = run.pending()
    read_ahead(m.file for m in migrations)
    tracker = Tracker(prepared.conn, content=False)
    now = Reader(prepared.conn)
    cases: list[Case] = []
    for index, migration in enumerate(migrations):
        printed = tracker.fingerprint
        # the database before the migration, read afterwards only where it wrote
        with copy_before(prepared.conn, options.setup) as then:
            with tracker.watch():
                case = apply_case(NAME, run, migration, options, on_sample=True)
            cases.append(case)
            if case.outcome == "failed":
                why = f"not run: {migration.label} failed"
                return cases + not_run(NAME, run.catalog, migrations[index + 1 :], why)
            changed, written = tracker.changed, tracker.columns_written
            before = written_images(then, printed, changed, written)
        after = written_images(now, tracker.now, changed, written)
        case.findings += data_findings(migration, before, after, changed, sample)
    return cases


CHECK = Check(
    NAME,
    __doc__,
    (
        Option(
            "--sample",
            type=Path,
            default=None,
            metavar="PATH",
            help="sample data: a .sql fixture starting with '-- @sample-version N', a .db file, "
            "or (--engine postgresql) a pg_dump -Fc archive",
        ),
        *OPTIONS,
        busy_timeout_option(),
        *IMPACT_OPTIONS,
        common_options.engine(),
        common_options.server_url(),
    ),
    work,
)
