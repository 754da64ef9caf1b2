"""The postcheck (`python -m ci.postcheck --db PATH --expect-version N [--invariants FILE]`): did
the migration leave the database as intended? Version match, integrity_check,
foreign_key_check, no dirty marks, invariants. Read-only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ci.checks import options
from ci.checks.base import Check
from ci.checks.database import FOREIGN_KEYS, INTEGRITY, OPTIONS, dirty_case, inspected, main_version
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
    cases = [version_case(conn, db, expected)]
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


def version_case(conn: sqlite3.Connection, db: str, expected: int) -> Case:
    version, _ = main_version(conn)
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
    lambda args: inspected(
        args, lambda conn: postcheck(conn, args.db, args.expect_version, args.invariants)
    ),
    reads_migrations=False,
)
