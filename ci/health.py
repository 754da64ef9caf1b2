"""Health of a database as test cases: integrity, foreign keys, invariants.

Shared by the checks that migrate a throwaway copy (ci.validate) and by ci.precheck / ci.postcheck
on a real database. Only the wording differs: a finding's code, where it happened, how to fix it.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from ci.cli import UsageError
from ci.findings import Case, Finding
from ci.gatekeeper import gate_of
from ci.invariants import Invariant

SHOWN = 5  # rows quoted in a message; one more is fetched to say "and more"


class Wording(NamedTuple):
    code: str
    prefix: str  # "integrity_check after the migrations", ...
    hint: str


def integrity_case(check: str, conn: sqlite3.Connection, where: str, wording: Wording) -> Case:
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchmany(SHOWN + 1)]
    case = Case("integrity_check", check, path=where)
    if rows != ["ok"]:
        message = f"{wording.prefix}: " + "; ".join(rows[:SHOWN])
        case.findings.append(Finding(check, wording.code, where, None, message, wording.hint))
    return case


def foreign_key_case(check: str, conn: sqlite3.Connection, where: str, wording: Wording) -> Case:
    rows = conn.execute("PRAGMA foreign_key_check").fetchmany(SHOWN + 1)
    case = Case("foreign_key_check", check, path=where)
    if rows:
        shown = "; ".join(
            f"{table} rowid {rowid} references a missing row of {parent}"
            for table, rowid, parent, _fk in rows[:SHOWN]
        )
        message = f"{wording.prefix}: {shown}{_more(rows)}"
        case.findings.append(Finding(check, wording.code, where, None, message, wording.hint))
    return case


def invariant_case(
    check: str, conn: sqlite3.Connection, invariant: Invariant, path: str, wording: Wording
) -> Case:
    """An invariant query must return no rows; one that cannot run is a usage error (exit 2)."""
    case = Case(f"invariant: {invariant.name}", check, path=path, line=invariant.line)
    try:
        # the connection's gate: on a check's database, the pragmas a migration may not run
        # there, an invariant may not run either
        rows = gate_of(conn).query(invariant.sql).fetchmany(SHOWN + 1)
    except sqlite3.Error as error:
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


def _more(rows: list[object]) -> str:
    return " and more" if len(rows) > SHOWN else ""
