"""apply_sample on PostgreSQL, its sample side: the sample (a `.sql` fixture, or a `pg_dump -Fc`
archive restored into the throwaway database by ci.db.postgres.sample) and the pending
migrations compared with it value by value.

An archive sits where its `schema_version` says, as a copied SQLite database does: the
migrations it records are applied already, the rest are pending (an archive without the
runner's table has every migration pending). After each pending migration every table it
changed (ci.db.postgres.values) is compared before and after by ci.checks.sample_values, the
SQLite check's own findings: rows lost (MG308), values changed (MG312), values turned NULL
(MG313), unless the migration declares `-- @allow-row-loss` / `-- @rewrites`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ci.checks.pg_validate import pg_apply_case
from ci.checks.sample import (
    PG_DUMP_MAGIC,
    Sample,
    not_a_regular_file,
    open_sample,
    starts_with,
)
from ci.checks.sample_values import data_findings
from ci.checks.validate import not_run
from ci.core.errors import UsageError
from ci.core.findings import Case
from ci.core.model import read_ahead

if TYPE_CHECKING:
    from ci.checks.db_options import Options
    from ci.db.postgres.runner import PgRunner

NAME = "apply_sample"


def pg_sample(path: Path) -> Sample:
    """The sample of a PostgreSQL project: a pg_dump archive (known by its first bytes, whatever
    its name) or a `.sql` fixture; anything else is one line, exit 2."""
    not_a_file = not_a_regular_file(path)
    if not_a_file:
        raise UsageError(f"{path}: {not_a_file}")
    if starts_with(path, PG_DUMP_MAGIC):
        return Sample(path, dump=True)
    if path.suffix.lower() != ".sql":
        raise UsageError(
            f"{path}: with --engine postgresql the sample is a .sql fixture starting with "
            "'-- @sample-version N' or a pg_dump -Fc archive"
        )
    return open_sample(path)


def restore_dump(run: PgRunner, sample: Sample) -> None:
    """The archive into the run's throwaway database, before the runner reads its tables."""
    from ci.db.postgres.sample import restore

    restore(sample.path, run.conn)


def apply_pending(run: PgRunner, sample: Sample, options: Options) -> list[Case]:
    """Each pending migration as a case, failing also when it loses rows or changes values it
    did not declare."""
    from ci.db.postgres.values import PgImages

    migrations = run.pending()
    if not migrations:  # nothing to compare: the sample is not read
        return []
    read_ahead(m.file for m in migrations)
    images = PgImages(run.conn)
    cases: list[Case] = []
    for index, migration in enumerate(migrations):
        before = images.snapshot()
        case = pg_apply_case(NAME, run, migration, options)
        cases.append(case)
        if case.outcome == "failed":
            why = f"not run: {migration.label} failed"
            return cases + not_run(NAME, run.catalog, migrations[index + 1 :], why)
        changed = images.refresh()
        case.findings += data_findings(migration, before, images.snapshot(), changed, sample)
    return cases
