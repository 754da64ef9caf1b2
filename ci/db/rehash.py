"""`python -m ci.migrate --rehash`: accept comment-only edits of applied migrations in a
database's own records, as Flyway's `repair` realigns checksums.

An applied file whose statements and directives are unchanged (only comments or whitespace
differ: the rule the lock rehash uses, ci.core.sqltext.same_statements, judged against the
statement fingerprint the row recorded when it was applied) gets its `schema_version.file_hash`
rewritten to the file's checksum now, and one 'rehash' line in `schema_version_log` with the old
checksum. Any other edit, a reused number, or a row that recorded no fingerprint (an older
table) refuses the whole run with the line a plain run gives: nothing is written, because the
next run would refuse anyway. All rows change in one transaction, or none.
"""

from __future__ import annotations

import sqlite3

from ci.core.model import InputError, Migration
from ci.core.sqltext import same_statements
from ci.db import bookkeeping, drift
from ci.db.bookkeeping import AppliedRow, Entry
from ci.db.outcomes import RunRefused
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
            edits = harmless_edits(runner, bookkeeping.read_applied(conn))
            for m, row in edits:
                _rewrite(conn, m, row)
            conn.execute("COMMIT")
        except BaseException:
            session.rollback_quietly()
            raise
    if not edits:
        print("no applied migration was edited; nothing to rehash", file=out)
    for m, row in edits:
        print(
            f"rehashed {m.label} {m.path}: only comments or whitespace changed; recorded "
            f"checksum {row.file_hash} -> {m.file.checksum} (logged in {bookkeeping.LOG_TABLE})",
            file=out,
        )
    return False


def harmless_edits(runner: Runner, rows: list[AppliedRow]) -> list[tuple[Migration, AppliedRow]]:
    """(migration, its row) per edited applied file; RunRefused naming every other edit."""
    files = {(m.track, m.version): m for m in runner.catalog.all_migrations()}
    edits: list[tuple[Migration, AppliedRow]] = []
    refused: list[str] = []
    for row in rows:
        m = files.get((row.track, row.version))
        if m is None or row.file_hash is None or drift.unchanged(row.file_hash, m.file, None):
            continue
        if drift.reused(row, m) or not _same_statements(row, m):
            (line,) = drift.edited_lines(drift.edited(runner.catalog, [row]))
            refused.append(f"{line} (--rehash accepts only comment or whitespace edits)")
        else:
            edits.append((m, row))
    if refused:
        raise RunRefused("\n".join(refused))
    return edits


def _same_statements(row: AppliedRow, m: Migration) -> bool:
    try:
        return same_statements(row.code_hash, m.file.text)
    except InputError:  # no longer valid UTF-8: not provably the same statements
        return False


def _rewrite(conn: sqlite3.Connection, m: Migration, row: AppliedRow) -> None:
    cursor = conn.execute(REWRITE, (m.file.checksum, row.track == "seed", row.version))
    bookkeeping.check_written(conn, cursor.rowcount, bookkeeping.TABLE)
    entry = Entry(row.version, row.migration_type, row.description, m.file.checksum)
    note = f"was {row.file_hash}: only comments or whitespace changed"
    bookkeeping.log(conn, "rehash", entry, error=note)
