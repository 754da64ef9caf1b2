"""What to do about an open dirty mark, in one line: wait while its holder runs, --resume once
it has provably stopped, and when that cannot be told a person checks and runs --force-clean.
"""

from __future__ import annotations

from ci.db import bookkeeping
from ci.db.bookkeeping import DirtyMark


def being_applied_message(mark: DirtyMark) -> str:
    return (
        f"{mark.label} {mark.description} is being applied right now by {mark.holder_name} "
        f"(started at {mark.logged_at}); wait for it to finish"
    )


def unproven_holder_message(mark: DirtyMark, why: str, db: str | None = None) -> str:
    """A mark whose holder may still be running: only a person can tell, then --force-clean."""
    return (
        f"database is dirty: {mark.label} {mark.description} was started at "
        f"{mark.logged_at} by {mark.holder_name}, which {_unproven(why, db)}"
    )


def _unproven(why: str, db: str | None) -> str:
    command = f"python -m ci.migrate --db {db} --force-clean" if db else "with --force-clean"
    return (
        f"cannot be proven to have stopped ({why}); make sure that process is gone, then run "
        f"{command}"
    )


def dirty_message(mark: DirtyMark, db: str | None = None) -> str:
    """What to do about an open dirty mark: --resume only once its holder has provably stopped
    (while it runs, wait; when that cannot be told, a person checks and runs --force-clean)."""
    state, why = mark.holder()
    if state == bookkeeping.ALIVE:
        return being_applied_message(mark)
    error = f"; it failed with: {mark.error}" if mark.error else ""
    told = (
        f"database is dirty: {mark.label} {mark.description} started at {mark.logged_at} "
        f"and did not finish ({mark.rows_done:,} rows done){error}"
    )
    if state != bookkeeping.GONE:
        return f"{told}. It was started by {mark.holder_name}, which {_unproven(why, db)}"
    return (
        f"{told}. Run with --resume to finish it, or fix the database by hand and run with "
        "--force-clean"
    )
