"""Health of a database as test cases: integrity, foreign keys, invariants.

Shared by the checks that migrate a throwaway copy (ci.checks.validate) and by ci.precheck /
ci.postcheck on a real database. Only the wording differs: a finding's code, where it happened,
how to fix it. The database is asked through the seam (ci.db.engine): any engine's `Database`,
or a sqlite3 connection seen through the SQLite engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ci.core.errors import UsageError
from ci.core.findings import RUNAWAY, Case, Finding
from ci.db.engine import database_of
from ci.db.invariants import Invariant

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sized

    from ci.db.engine import Database

SHOWN = 5  # rows quoted in a message; one more is fetched to say "and more"


class Wording(NamedTuple):
    code: str
    prefix: str  # "integrity_check after the migrations", ...
    hint: str


def integrity_case(
    check: str,
    conn: Database | sqlite3.Connection,
    where: str,
    wording: Wording,
    *,
    verify_checks: bool = False,
) -> Case:
    """The database's integrity check as a case. `verify_checks` for a read-only connection:
    SQLite does not even parse CHECK constraints of a database opened read-only, so its
    integrity_check skips them there; they are then evaluated one by one (ci.db.sqlite_checks),
    without writing anything."""
    problems = database_of(conn).integrity_problems(SHOWN + 1, verify_checks=verify_checks)
    case = Case("integrity_check", check, path=where)
    if problems:
        message = f"{wording.prefix}: " + "; ".join(problems[:SHOWN])
        case.findings.append(Finding(check, wording.code, where, None, message, wording.hint))
    return case


def foreign_key_case(
    check: str, conn: Database | sqlite3.Connection, where: str, wording: Wording
) -> Case:
    rows = database_of(conn).foreign_key_problems(SHOWN + 1)
    case = Case("foreign_key_check", check, path=where)
    if rows:
        shown = "; ".join(
            f"{table} rowid {rowid} references a missing row of {parent}"
            for table, rowid, parent in rows[:SHOWN]
        )
        message = f"{wording.prefix}: {shown}{_more(rows)}"
        case.findings.append(Finding(check, wording.code, where, None, message, wording.hint))
    return case


def invariant_case(
    check: str,
    conn: Database | sqlite3.Connection,
    invariant: Invariant,
    path: str,
    wording: Wording,
    *,
    timeout: float | None = None,
) -> Case:
    """An invariant query must return no rows; one that cannot run is a usage error (exit 2);
    one still running after `timeout` (--statement-timeout) is stopped, a RUNAWAY finding."""
    from ci.db.runner import Runaway

    database = database_of(conn)
    case = Case(f"invariant: {invariant.name}", check, path=path, line=invariant.line)
    try:
        # under the rules of a migration's statement: on a check's database, the pragmas a
        # migration may not run there, an invariant may not run either
        with database.time_limited(timeout, path, invariant.line):
            rows = database.query(invariant.sql, SHOWN + 1)
    except Runaway as failure:
        message = f"invariant '{invariant.name}': {failure.message}"
        case.findings.append(Finding(check, RUNAWAY, path, invariant.line, message, failure.hint))
        return case
    except database.error as error:
        raise UsageError(
            f"{path}:{invariant.line}: invariant '{invariant.name}' cannot run: {error}"
        ) from None
    if rows:
        shown = ", ".join(repr(tuple(r)) for r in rows[:SHOWN])
        message = f"invariant '{invariant.name}' returned rows: {shown}{_more(rows)}"
        case.findings.append(
            Finding(check, wording.code, path, invariant.line, message, wording.hint)
        )
    return case


def _more(rows: Sized) -> str:
    return " and more" if len(rows) > SHOWN else ""
