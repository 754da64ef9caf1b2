"""`python -m ci.postcheck --db PATH --expect-version N [--invariants FILE]`: did the migration
leave the database as intended? (the post-migration check): version match,
integrity_check, foreign_key_check, no dirty marks, invariants. Read-only.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence

from ci.app.cli import migration_number, refuse_unsafe_junit, run_program
from ci.core.findings import Case, Finding, Report
from ci.db import bookkeeping, health
from ci.db.invariants import add_invariants_option, parse_invariants
from ci.precheck import FOREIGN_KEYS, INTEGRITY, build_parser, dirty_case, run_report

CHECK = "postcheck"
INVARIANT = health.Wording(
    "MG354",
    "invariant",
    "fix the data (or the migration that left it) so the query returns nothing",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(
        f"python -m ci.{CHECK}",
        "Check a database after migrating it: version, integrity, foreign keys, invariants.",
    )
    parser.add_argument(
        "--expect-version",
        type=migration_number,
        required=True,
        metavar="N",
        help="the main-track version the database must be at",
    )
    add_invariants_option(parser)
    args = parser.parse_args(argv)
    refuse_unsafe_junit(parser.prog, args)
    return run_report(CHECK, args, postcheck)


def postcheck(conn: sqlite3.Connection, args: argparse.Namespace) -> Report:
    invariants = parse_invariants(args.invariants) if args.invariants else []
    db = str(args.db)
    cases = [version_case(conn, db, args.expect_version)]
    cases += [
        health.integrity_case(CHECK, conn, db, INTEGRITY, verify_checks=True),
        health.foreign_key_case(CHECK, conn, db, FOREIGN_KEYS),
    ]
    cases.append(dirty_case(CHECK, conn, db))
    cases += [
        health.invariant_case(CHECK, conn, inv, str(args.invariants), INVARIANT)
        for inv in invariants
    ]
    return Report(CHECK, cases)


def version_case(conn: sqlite3.Connection, db: str, expected: int) -> Case:
    applied = bookkeeping.read_applied(conn)
    version = bookkeeping.head_version(applied)
    case = Case("version", CHECK, path=db)
    if version != expected:
        case.findings.append(
            Finding(
                CHECK,
                "MG353",
                db,
                None,
                f"schema_version is {version:04d}, expected {expected:04d}",
                "run python -m ci.migrate (or --rollback) to reach the expected version",
            )
        )
    return case


if __name__ == "__main__":
    raise SystemExit(run_program(main))
