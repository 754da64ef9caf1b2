"""`python -m ci.migrate --rehash` on SQLite: accept comment-only edits of applied migrations in
a database's own records, as Flyway's `repair` realigns checksums.

Which edits are accepted, and what is printed, is the same on both engines
(ci.db.rehash_edits). Each accepted file gets its `schema_version.file_hash` rewritten to the
file's checksum now, and one 'rehash' line in `schema_version_log` with the old checksum; any
other edit refuses the whole run and nothing is written. All rows change in one transaction,
or none.
"""

from __future__ import annotations

import sqlite3

from ci.core.model import Migration
from ci.db import bookkeeping
from ci.db.bookkeeping import AppliedRow
from ci.db.rehash_edits import harmless_edits, rehashed, report
from ci.db.runner import Runner
from ci.db.tables import MAIN_TABLE

TYPE_CHECKING = False  # not typing's own (start-up time of every deploy)
if TYPE_CHECKING:
    from typing import TextIO

REWRITE = (
    f"UPDATE {MAIN_TABLE} SET file_hash = ? WHERE (migration_type = 'seed') = ? AND version = ?"
)


def rehash(runner: Runner, *, out: TextIO) -> bool:
    """Rewrite the recorded checksum of every applied file edited in comments or whitespace
    only; RunRefused (nothing written) when another edit is among them. Returns False (no
    problem): the lines say what was rewritten."""
    runner.ensure_bookkeeping()  # an older table is upgraded first: the columns are ours
    session, conn = runner.session, runner.conn
    with session.guard():
        session.begin()
        try:
            edits = harmless_edits(runner.catalog, bookkeeping.read_applied(conn))
            for m, row in edits:
                _rewrite(conn, m, row)
            conn.execute("COMMIT")
        except BaseException:
            session.rollback_quietly()
            raise
    report(edits, out=out)
    return False


def _rewrite(conn: sqlite3.Connection, m: Migration, row: AppliedRow) -> None:
    cursor = conn.execute(REWRITE, (m.file.checksum, row.track == "seed", row.version))
    bookkeeping.check_written(conn, cursor.rowcount, bookkeeping.TABLE)
    entry, note = rehashed(m, row)
    bookkeeping.log(conn, "rehash", entry, error=note)
