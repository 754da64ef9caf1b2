"""The postcheck (`python -m ci.postcheck --db PATH --expect-version N [--invariants FILE]`): did
the migration leave the database as intended? Version match, integrity_check,
foreign_key_check, no dirty marks, invariants. Read-only. With `--database-url` the database is
PostgreSQL's (`postgres_postcheck`): the same cases, its health as precheck judges it.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from ci.checks import options
from ci.checks.base import Check
from ci.checks.database import (
    FOREIGN_KEYS,
    INTEGRITY,
    OPTIONS,
    dirty_case,
    inspected,
    main_version,
    postgres_url,
)
from ci.checks.options import Option
from ci.core.findings import Case, Finding, Report
from ci.db import health
from ci.db.invariants import parse_invariants

NAME = "postcheck"
INVARIANT = health.Wording(
    "MG354",
    "invariant",
    "fix the data (or the migration that left it) so the query returns nothing",
)


def postcheck(
    conn: sqlite3.Connection, path: Path, expected: int, invariants_file: Path | None
) -> Report:
    invariants = parse_invariants(invariants_file) if invariants_file else []
    db = str(path)
    cases = [version_case(main_version(conn)[0], db, expected)]
    cases += [
        health.integrity_case(NAME, conn, db, INTEGRITY, verify_checks=True),
        health.foreign_key_case(NAME, conn, db, FOREIGN_KEYS),
    ]
    cases.append(dirty_case(NAME, conn, db))
    cases += [
        health.invariant_case(NAME, conn, inv, str(invariants_file), INVARIANT)
        for inv in invariants
    ]
    return Report(NAME, cases)


def postgres_postcheck(
    url: str, expected: int, invariants_file: Path | None, *, busy_timeout: float
) -> Report:
    """The postcheck of the PostgreSQL database at `url`, read-only (each invariant runs in a
    READ ONLY transaction)."""
    from ci.checks import database_postgres as pg

    invariants = parse_invariants(invariants_file) if invariants_file else []
    with pg.opened(url, busy_timeout=busy_timeout) as db:
        cases = [
            version_case(pg.main_version(db)[0], db.where, expected),
            health.integrity_case(NAME, db, db.where, pg.INTEGRITY),
            health.foreign_key_case(NAME, db, db.where, pg.FOREIGN_KEYS),
            pg.amcheck_case(NAME, db, pg.INTEGRITY.code),
            pg.dirty_case(NAME, db),
        ]
        cases += [
            health.invariant_case(NAME, db, inv, str(invariants_file), INVARIANT)
            for inv in invariants
        ]
        return Report(NAME, cases)


def run(args: argparse.Namespace) -> Report:
    url = postgres_url(args)
    if url is not None:
        return postgres_postcheck(
            url, args.expect_version, args.invariants, busy_timeout=args.busy_timeout
        )
    return inspected(
        args, lambda conn: postcheck(conn, args.db, args.expect_version, args.invariants)
    )


def version_case(version: int, db: str, expected: int) -> Case:
    case = Case("version", NAME, path=db)
    if version != expected:
        case.findings.append(
            Finding(
                NAME,
                "MG353",
                db,
                None,
                f"schema_version is {version:04d}, expected {expected:04d}",
                "run python -m ci.migrate (or --rollback) to reach the expected version",
            )
        )
    return case


CHECK = Check(
    NAME,
    "Check a database after migrating it: version, integrity, foreign keys, invariants.",
    (
        *OPTIONS,
        Option(
            "--expect-version",
            type=options.migration_number,
            required=True,
            metavar="N",
            help="the main-track version the database must be at",
        ),
        options.INVARIANTS,
    ),
    run,
    reads_migrations=False,
)
