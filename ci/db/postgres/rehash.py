"""`python -m ci.migrate --database-url ... --rehash`: the SQLite --rehash (ci.db.rehash) on
PostgreSQL. Which edits are accepted and what is printed is ci.db.rehash_edits; here the rows
are read and rewritten, and each rewrite logged, in ONE transaction, under the runner's advisory
lock the command took first (no other runner applies or rewrites meanwhile). A refusal rolls
the transaction back: nothing is written.
"""

from __future__ import annotations

from typing import TextIO

from ci.db.postgres import steps
from ci.db.postgres.runner import PgRunner
from ci.db.rehash_edits import harmless_edits, rehashed, report


def rehash(runner: PgRunner, *, out: TextIO) -> bool:
    """Rewrite the recorded checksum of every applied file edited in comments or whitespace
    only; RunRefused (nothing written) when another edit is among them. Returns False (no
    problem): the lines say what was rewritten."""
    runner.ensure_bookkeeping()
    conn, tables = runner.conn, runner.tables
    with steps.transaction(runner):
        edits = harmless_edits(runner.catalog, runner.applied(), engine="postgresql")
        for m, row in edits:
            entry, note = rehashed(m, row)
            tables.rewrite_hash(conn, entry)
            tables.log_attempt(conn, "rehash", entry, error=note)
    report(edits, out=out)
    return False
