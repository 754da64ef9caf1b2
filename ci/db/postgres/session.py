"""The runner's session between migrations: each migration starts in the session the run
started with, whatever the one before it left behind, and the run stops when a migration
released the runner's lock.

Running migrations one after the other on one connection must give what running each in a
fresh session gives (as on a run that stops at --target and a later run that goes on): a temp
table made by one migration would otherwise shadow the real table of the next one (pg_temp
comes first on the search_path), a setting changed by a function it calls would stay, and
prepared statements, WITH HOLD cursors, LISTEN channels and advisory locks would carry over.
`reset` does what DISCARD ALL does except releasing the runner's own advisory lock (DISCARD
ALL and pg_advisory_unlock_all() would free it, and another runner could start meanwhile): every
other advisory lock the session holds is released one by one.

`holds_lock` asks the server whether this session still holds the runner's lock, so a migration
that released it (pg_advisory_unlock_all(), DISCARD ALL, dynamic SQL) stops the run before its
row is written: another runner may already be running.
"""

from __future__ import annotations

from typing import Any

from ci.db.outcomes import CannotRun
from ci.db.postgres.connect import Cursor, PgConnection
from ci.db.postgres.execute import LOCK_KEY

# DISCARD ALL's parts, in its order, without pg_advisory_unlock_all(); RESET ALL sets every
# setting back to the value the session started with (the connection's own options included)
RESET = (
    "CLOSE ALL",
    "SET SESSION AUTHORIZATION DEFAULT",
    "RESET ALL",
    "DEALLOCATE ALL",
    "UNLISTEN *",
    "DISCARD PLANS",
    "DISCARD TEMP",
    "DISCARD SEQUENCES",
)

# the session's advisory locks: (key as one bigint, or the two int4 halves), shared or not
ADVISORY_LOCKS = (
    "SELECT objsubid, classid::bigint, objid::bigint, mode = 'ShareLock' FROM pg_locks "
    "WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
)
BIGINT_KEY = 1  # pg_locks.objsubid of a lock taken with one bigint key (2: two int4 keys)
# All of it in one round trip: one query of the simple protocol, whose statements the server runs
# in order as one implicit transaction (each of them may run in one) and stops at the first
# that fails; its last result is the advisory locks still held.
RESET_QUERY = "; ".join((*RESET, ADVISORY_LOCKS))


def reset(conn: PgConnection) -> None:
    """Put the session back as it was when the run started (outside any transaction)."""
    cursor = conn.execute(RESET_QUERY, prepare=False)
    while cursor.nextset():  # to the last statement's result: the locks
        pass
    release_other_locks(conn, cursor.fetchall())


def release_other_locks(conn: PgConnection, held: list[tuple[Any, ...]] | None = None) -> None:
    """Release every session advisory lock but the runner's own, as often as it was taken.
    `held`: the rows of ADVISORY_LOCKS, when already read."""
    if held is None:
        held = conn.execute(ADVISORY_LOCKS).fetchall()
    for objsubid, classid, objid, shared in held:
        if objsubid == BIGINT_KEY:
            key: tuple[Any, ...] = (_bigint(classid, objid),)
            if key[0] == LOCK_KEY:
                continue  # the runner's own (a migration that took it again holds it twice:
                # harmless, the session's end frees both)
            arguments = "%s"
        else:
            key, arguments = (_int4(classid), _int4(objid)), "%s, %s"
        unlock = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
        while _released(conn, f"SELECT {unlock}({arguments})", key):
            pass


def _released(conn: PgConnection, query: str, key: tuple[Any, ...]) -> bool:
    row = conn.execute(query, key).fetchone()
    return bool(row and row[0])


def _bigint(classid: int, objid: int) -> int:
    """The bigint key pg_locks shows as its high (classid) and low (objid) halves."""
    return int.from_bytes(((classid << 32) | objid).to_bytes(8, "big"), "big", signed=True)


def _int4(half: int) -> int:
    return int.from_bytes(half.to_bytes(4, "big"), "big", signed=True)


def holds_lock(conn: PgConnection) -> bool:
    """Whether this session still holds the runner's advisory lock (exclusive, granted)."""
    return still_held(ask_holds_lock(conn.cursor()))


def ask_holds_lock(cursor: Cursor) -> Cursor:
    """`holds_lock`'s query, sent; `still_held` reads the answer (in a pipeline, once synced)."""
    unsigned = LOCK_KEY & 0xFFFFFFFFFFFFFFFF
    return cursor.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
        "AND granted AND mode = 'ExclusiveLock' AND objsubid = 1 "
        "AND classid::bigint = %s AND objid::bigint = %s",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    )


def still_held(cursor: Cursor | None) -> bool:
    """The answer to ask_holds_lock (None: not asked, so not held)."""
    if cursor is None:
        return False
    row = cursor.fetchone()
    return bool(row and row[0])


def refuse_unless_locked(
    conn: PgConnection,
    where: str,
    *,
    locked: bool,
    committed: bool = False,
    asked: Cursor | None = None,
) -> None:
    """CannotRun when a migration released the runner's lock (the run stops: another runner
    may already be at work). `locked`: whether the runner took it (a check's runner on its own
    throwaway database takes none). `committed`: what the migration did stays
    (@no-transaction). `asked`: ask_holds_lock's answer, when sent already."""
    if not locked or still_held(asked if asked is not None else ask_holds_lock(conn.cursor())):
        return
    what = (
        "its statements stay committed and the database stays marked dirty"
        if committed
        else "it was rolled back"
    )
    raise CannotRun(
        f"{where}: the migration released the runner's lock (pg_advisory_unlock_all(), "
        f"DISCARD ALL or pg_advisory_unlock of the runner's key): another runner could have "
        f"started meanwhile; {what}; the run stops here"
    )
