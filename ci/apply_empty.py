"""`python -m ci.apply_empty`: every migration on a fresh database, then validated.

The database lives in a temporary directory and is thrown away, so it is opened without
per-commit fsync: each migration is still one transaction with its schema_version row, exactly
as the runner applies it in production. Each migration is a test case with its time and rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ci.app.cli import check_parser, parse, run_check, run_program
from ci.checks.validate import (
    Options,
    add_options,
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
from ci.core.model import Catalog, discover, read_ahead
from ci.db import runner
from ci.db.invariants import Invariant

CHECK = "apply_empty"


def build_parser() -> argparse.ArgumentParser:
    parser = check_parser(CHECK, __doc__)
    add_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    return run_check(CHECK, args, lambda a: apply_empty(a.migrations_dir, options_from(a)))


def apply_empty(root: Path, options: Options) -> Report:
    """Apply main track then seeds to a fresh private database and validate the result."""
    catalog = discover(root)
    invariants = load_invariants(options)
    with tempfile.TemporaryDirectory(prefix="migration-guard-") as tmp:
        conn = runner.connect(Path(tmp) / "apply_empty.db", setup=options.setup, durable=False)
        try:
            with could_not_run():
                cases = apply_all(conn, catalog, options, invariants)
        finally:
            conn.close()
    return Report(CHECK, cases)


def apply_all(
    conn: sqlite3.Connection, catalog: Catalog, options: Options, invariants: list[Invariant]
) -> list[Case]:
    run = new_runner(conn, catalog, options)
    cases = catalog_cases(CHECK, run.catalog)
    if cases:
        return cases
    migrations = catalog.all_migrations()
    read_ahead(m.file for m in migrations)
    for index, migration in enumerate(migrations):
        case = apply_case(CHECK, run, migration, options)
        cases.append(case)
        if case.outcome == "failed":
            why = f"not run: {migration.label} failed"
            return cases + not_run(CHECK, catalog, migrations[index + 1 :], why)
    return cases + validate(CHECK, conn, run, options, invariants)


if __name__ == "__main__":
    raise SystemExit(run_program(main))
