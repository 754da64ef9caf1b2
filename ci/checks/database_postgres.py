"""precheck, postcheck and `checksums --database-url` on a PostgreSQL database.

The database is opened read-only (`default_transaction_read_only`) through the PostgreSQL
engine (ci.db.postgres.engine), which alone imports the driver; this module is imported only when
`--database-url` is given, so a SQLite run never loads it. What the server keeps by itself
(every validated constraint, every foreign key added without NOT VALID) is not asked again; what
it does not vouch for is: invalid indexes, constraints never validated and the orphan rows of
unvalidated foreign keys (the engine's health), B-tree index structure with amcheck when the
extension is installed in the database, the runner's dirty marks and its version.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ci.core.findings import Case, Finding
from ci.db import health
from ci.db.bookkeeping import head_version
from ci.db.dirty import dirty_message
from ci.db.outcomes import CannotRun
from ci.db.tables import TABLE

if TYPE_CHECKING:
    from ci.db.postgres.engine import PgDatabase

INTEGRITY = health.Wording(
    "MG350", "catalog check", "fix each as it says before migrating (the server skips them)"
)
FOREIGN_KEYS = health.Wording(
    "MG351",
    "unvalidated foreign keys",
    "fix or delete the orphan rows, then ALTER TABLE ... VALIDATE CONSTRAINT",
)

# B-tree indexes amcheck can verify: valid and ready, not another session's temporary ones
BTREE_INDEXES = """
SELECT c.oid::regclass::text FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't'
ORDER BY 1
"""
AMCHECK_SCHEMA = """
SELECT quote_ident(n.nspname) FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'
"""
CORRUPTED = ("XX001", "XX002")  # the SQLSTATEs data_corrupted and index_corrupted
AMCHECK_AVAILABLE = "SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'"
AMCHECK_MISSING = (
    "amcheck is not installed in this database, so B-tree indexes were not verified: "
    "CREATE EXTENSION amcheck (once, as a superuser) lets precheck and postcheck verify them"
)
AMCHECK_UNAVAILABLE = (
    "the server has no amcheck extension (PostgreSQL's contrib package), so B-tree indexes "
    "were not verified"
)


@contextmanager
def opened(url: str, *, busy_timeout: float) -> Iterator[PgDatabase]:
    """The database at `url`, read-only; a lock held longer than `busy_timeout` by another
    session (an ALTER TABLE under way) stops a query instead of hanging the check. A server
    error is CannotRun: one line naming the database, without its password."""
    from ci.db.postgres.connect import one_line
    from ci.db.postgres.engine import ENGINE

    db = ENGINE.connect_target(url, readonly=True)
    try:
        db.conn.execute(f"SET lock_timeout = {max(1, int(busy_timeout * 1000))}")
        yield db
    except db.error as error:
        raise CannotRun(f"{db.where}: {one_line(error)}") from None
    finally:
        db.close()


def main_version(db: PgDatabase) -> tuple[int, int]:
    """(the main-track version, how many migrations are applied) of the database."""
    applied = db.applied()
    return head_version(applied), len(applied)


def describe(db: PgDatabase) -> str:
    """Server, size and version, for the log (the seed's 'DB size')."""
    row = db.conn.execute(
        "SELECT current_setting('server_version'), pg_database_size(current_database())"
    ).fetchone()
    assert row is not None
    version, applied = main_version(db)
    return (
        f"{db.where}: PostgreSQL {row[0]}, {int(row[1]):,} bytes, "
        f"schema_version {version:04d} ({applied} applied)"
    )


def dirty_case(check: str, db: PgDatabase) -> Case:
    case = Case("dirty marks", check, path=db.where)
    for mark in db.tables.open_marks(db.conn):
        case.findings.append(
            Finding(check, "MG352", db.where, None, dirty_message(mark).split(". Run with")[0],
                    "python -m ci.migrate --resume (or fix by hand and --force-clean)")
        )  # fmt: skip
    return case


def amcheck_case(check: str, db: PgDatabase, code: str) -> Case:
    """Every B-tree index verified with amcheck's bt_index_check (a read-only check that takes
    only the lock a SELECT takes); skipped, saying why, when the database lacks the extension."""
    case = Case("amcheck", check, path=db.where)
    row = db.conn.execute(AMCHECK_SCHEMA).fetchone()
    if row is None:
        available = db.conn.execute(AMCHECK_AVAILABLE).fetchone() is not None
        case.skipped = AMCHECK_MISSING if available else AMCHECK_UNAVAILABLE
        return case
    verify = f"SELECT {row[0]}.bt_index_check(%s::regclass)"  # quoted by the server
    problems: list[str] = []
    for (index,) in db.conn.execute(BTREE_INDEXES).fetchall():
        problem = _index_problem(db, verify, str(index))
        if problem is not None:
            problems.append(problem)
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" * (len(problems) > 5))
        case.findings.append(
            Finding(check, code, db.where, None, f"amcheck: {shown}",
                    "REINDEX each index named (REINDEX INDEX CONCURRENTLY on a live database)")
        )  # fmt: skip
    return case


def _index_problem(db: PgDatabase, verify: str, index: str) -> str | None:
    from ci.db.postgres.connect import one_line

    try:
        db.conn.execute(verify, (index,))
    except db.error as error:
        if getattr(error, "sqlstate", None) in CORRUPTED:
            return f"index {index}: {one_line(error)}"
        raise
    return None


def schema_version_rows(url: str) -> list[tuple[object, ...]] | None:
    """(version, migration_type, description, file_hash, code_hash) of every row of the
    runner's table; None when the database has no such table yet."""
    with opened(url, busy_timeout=5.0) as db:
        if not db.tables.columns(db.conn, TABLE):
            return None
        return [
            (r.version, r.migration_type, r.description, r.file_hash, r.code_hash)
            for r in db.applied()
        ]


def label(url: str) -> str:
    """The URL as every message shows it: no password."""
    from ci.db.postgres.connect import label as without_password

    return without_password(url)
