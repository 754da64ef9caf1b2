"""The runner's own tables, `schema_version` and `schema_version_log`: reading them, and writing
one row at a time (ci.db.tables has their names and SQL).

`schema_version` has one row per applied migration. Identity is (track, version): a unique index
on `(migration_type = 'seed', version)` lets `seed/0001` coexist with `schema/0001` without a
redundant track column. `schema_version_log` is append-only: every apply, rollback and failure,
plus *dirty marks* (action 'dirty', `cleared_at` NULL while open) left by a `@no-transaction` or
`@batch` migration that has started but not finished.

These functions never BEGIN or COMMIT: the runner owns the transaction they run in. Creating
and upgrading the tables is ci.db.upgrade's.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from ci.core.model import InputError
from ci.db.holders import ALIVE as ALIVE
from ci.db.holders import GONE as GONE
from ci.db.holders import UNKNOWN as UNKNOWN
from ci.db.holders import boot_id as boot_id
from ci.db.holders import owner as owner
from ci.db.holders import process_start as process_start
from ci.db.records import AppliedRow as AppliedRow
from ci.db.records import DirtyMark as DirtyMark
from ci.db.records import Entry as Entry
from ci.db.tables import (
    ALIASES,
    APPLIED_SEEDS,
    COLUMNS,
    IDENTITY_INDEX,
    IS_APPLIED,
    LOG,
    LOG_COLUMNS,
    MAIN_LOG_TABLE,
    MAIN_TABLE,
    RECORDED,
    UNRECORD,
    quoted,
)
from ci.db.tables import APPLIED_BY as APPLIED_BY
from ci.db.tables import CREATE_INDEX as CREATE_INDEX
from ci.db.tables import CREATE_LOG as CREATE_LOG
from ci.db.tables import CREATE_TABLE as CREATE_TABLE
from ci.db.tables import LOG_TABLE as LOG_TABLE
from ci.db.tables import RECORD as RECORD
from ci.db.tables import TABLE as TABLE
from ci.db.values import as_row, checked_mark, checked_row, has_odd_values
from ci.db.values import check_value as check_value
from ci.db.values import checked_version as checked_version
from ci.db.values import database_file as database_file

_second: list[object] = [None, ""]  # the last whole second formatted, and its text


def now_utc() -> str:
    """ISO 8601 UTC with milliseconds: 2026-11-25T09:50:01.123Z."""
    now = time.time()
    second = int(now)
    if _second[0] != second:  # strftime once per second, not once per row
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int(now % 1 * 1000):03d}Z"


def head_version(rows: Iterable[AppliedRow]) -> int:
    """The newest applied main-track version (0 when none is): where the database is."""
    return max((r.version for r in rows if r.track == "main"), default=0)


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]


def state(conn: sqlite3.Connection) -> str:
    """'missing', 'current' (our tables and index) or 'legacy' (an older schema_version)."""
    have = columns(conn, TABLE)
    if not have:
        return "missing"
    index = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (IDENTITY_INDEX,)
    ).fetchone()
    if index is None or not set(COLUMNS) <= set(have):
        return "legacy"
    return "current" if is_our_log(columns(conn, LOG_TABLE)) else "missing"


def is_our_log(have: list[str]) -> bool:
    return bool(have) and set(LOG_COLUMNS) <= set(have)


def foreign_log(have: list[str]) -> str:
    """Why a `schema_version_log` of another shape (another tool's, a hand-made one) stops the
    runner: every run reads its dirty marks and appends to it."""
    return (
        f"table {LOG_TABLE} ({', '.join(have)}) exists but is not migration-guard's attempt log; "
        f"rename it (ALTER TABLE {LOG_TABLE} RENAME TO ...) or drop it, then run again"
    )


def read_applied(conn: sqlite3.Connection) -> list[AppliedRow]:
    """Every applied row, main track then seeds, by version; works on older tables too."""
    have = {c.lower(): c for c in columns(conn, TABLE)}
    if not have:
        return []
    select = []
    for column in COLUMNS:
        source = next((have[a] for a in ALIASES.get(column, (column,)) if a in have), None)
        select.append(quoted(source) if source else "NULL")
    rows = conn.execute(f"SELECT {', '.join(select)} FROM {MAIN_TABLE}").fetchall()
    if has_odd_values(rows):
        try:
            applied = [checked_row(r) for r in rows]
        except InputError as error:
            raise InputError(f"{database_file(conn)}: {error}") from None
    else:  # the common case, without a check per value (SQLite found no odd one)
        applied = [as_row(r, r[0]) for r in rows]
    applied.sort(key=lambda row: (row.track == "seed", row.version))
    return applied


def is_applied(conn: sqlite3.Connection, track: str, version: int) -> bool:
    row = conn.execute(
        IS_APPLIED,
        (track == "seed", version),
    ).fetchone()
    return row is not None


def applied_seeds(conn: sqlite3.Connection) -> list[Entry]:
    """The applied seeds, by version (through the identity index: no scan of the main track)."""
    rows = conn.execute(APPLIED_SEEDS).fetchall()
    return [
        Entry(int(v), "seed", str(d or ""), h if isinstance(h, str) else None) for v, d, h in rows
    ]


class NotWritten(InputError):
    """One of the runner's own rows was not written as asked (a trigger ignored or changed it):
    the runner fails the migration and rolls it back (elsewhere: one line, exit 2)."""


def record(
    conn: sqlite3.Connection,
    entry: Entry,
    *,
    ms: int,
    rows: int,
    read_back: bool = True,
    at: str | None = None,
) -> None:
    """Write the migration's row; NotWritten unless it is there afterwards as written.
    `at`: its applied_at (now_utc() when not given; an apply passes one for its row and log).

    `read_back=False`: the caller knows that no trigger in the database names the runner's
    tables (ci.db.gatekeeper, looked for in this transaction), so nothing but the INSERT
    itself can drop or change the row, and its row count says it all."""
    cursor = conn.execute(
        RECORD,
        (
            entry.version,
            entry.migration_type,
            entry.description,
            entry.file_hash,
            at or now_utc(),
            ms,
            rows,
            APPLIED_BY,
            entry.code_hash,
        ),
    )
    # a BEFORE trigger's RAISE(IGNORE) leaves the row unwritten (rowcount 0); an AFTER trigger
    # may delete or change it: either way the migration would apply again on the next run
    check_written(conn, cursor.rowcount, TABLE)
    if not read_back:
        return
    kept = conn.execute(RECORDED, (entry.track == "seed", entry.version, entry.migration_type,
                                   entry.file_hash, entry.code_hash)).fetchone()  # fmt: skip
    check_written(conn, 1 if kept else 0, TABLE)


def unrecord(conn: sqlite3.Connection, track: str, version: int) -> None:
    """Remove the migration's row; NotWritten if it is still there afterwards (a rollback file
    may have deleted it already, so the row count alone cannot tell)."""
    conn.execute(UNRECORD, (track == "seed", version))
    check_written(conn, 0 if is_applied(conn, track, version) else 1, TABLE)


def check_written(conn: sqlite3.Connection, changed: int, table: str) -> None:
    """NotWritten with one line naming the triggers on `table` unless exactly one row changed."""
    if changed == 1:
        return
    triggers = triggers_on(conn, table)
    culprit = (
        f"a trigger on {table} ({', '.join(triggers)}) ignores or changes it; remove it"
        if triggers
        else "something in the database ignores or changes it (an ON CONFLICT IGNORE or REPLACE "
        "clause?); correct the table"
    )
    raise NotWritten(f"the runner's {table} row was not written: {culprit}")


def triggers_on(conn: sqlite3.Connection, table: str) -> list[str]:
    """The triggers on a table of the main database (temporary ones included), by name."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = ? UNION ALL "
        "SELECT name FROM sqlite_temp_master WHERE type = 'trigger' AND lower(tbl_name) = ?",
        (table, table),
    ).fetchall()
    return sorted(str(name) for (name,) in rows)


def log(
    conn: sqlite3.Connection,
    action: str,
    entry: Entry | None,
    *,
    ms: int | None = None,
    rows: int | None = None,
    error: str | None = None,
    at: str | None = None,
) -> int:
    """Append one attempt to schema_version_log (about one migration, or about the tables
    themselves: entry None); returns its id. `at`: its time, now_utc() when not given."""
    cursor = conn.execute(
        LOG,
        (
            at or now_utc(),
            action,
            entry.version if entry else None,
            entry.migration_type if entry else None,
            entry.description if entry else None,
            entry.file_hash if entry else None,
            ms,
            rows,
            error,
            APPLIED_BY,
        ),
    )
    check_written(conn, cursor.rowcount, LOG_TABLE)
    return int(cursor.lastrowid or 0)


def open_marks(conn: sqlite3.Connection) -> list[DirtyMark]:
    """Dirty marks not yet cleared, oldest first ([] when there is no log table)."""
    have = columns(conn, LOG_TABLE)
    if not have:
        return []
    if not is_our_log(have):
        raise InputError(f"{database_file(conn)}: {foreign_log(have)}")
    rows = conn.execute(
        f"SELECT id, logged_at, version, migration_type, description, file_hash, "
        f"COALESCE(rows_affected, 0), error, applied_by FROM {MAIN_LOG_TABLE} "
        "WHERE action = 'dirty' AND cleared_at IS NULL ORDER BY id"
    ).fetchall()
    try:
        return [DirtyMark(*checked_mark(row)) for row in rows]  # type: ignore[arg-type]
    except InputError as error:
        raise InputError(f"{database_file(conn)}: {error}") from None


def find_mark(conn: sqlite3.Connection, entry: Entry) -> DirtyMark | None:
    return next(
        (m for m in open_marks(conn) if m.track == entry.track and m.version == entry.version),
        None,
    )


def open_mark(conn: sqlite3.Connection, entry: Entry) -> DirtyMark:
    mark_id = log(conn, "dirty", entry, rows=0)
    take_mark(conn, mark_id)
    return DirtyMark(
        mark_id, now_utc(), entry.version, entry.migration_type, entry.description,
        entry.file_hash, 0, None, owner(),
    )  # fmt: skip


def take_mark(conn: sqlite3.Connection, mark_id: int) -> None:
    """Record this process as the mark's holder (a new mark, or one being resumed)."""
    cursor = conn.execute(
        f"UPDATE {MAIN_LOG_TABLE} SET applied_by = ? WHERE id = ?", (owner(), mark_id)
    )
    check_written(conn, cursor.rowcount, LOG_TABLE)


def update_mark(
    conn: sqlite3.Connection, mark_id: int, *, rows: int | None = None, error: str | None = None
) -> None:
    cursor = conn.execute(
        f"UPDATE {MAIN_LOG_TABLE} SET rows_affected = COALESCE(?, rows_affected), "
        "error = COALESCE(?, error) WHERE id = ?",
        (rows, error, mark_id),
    )
    check_written(conn, cursor.rowcount, LOG_TABLE)


def clear_mark(conn: sqlite3.Connection, mark_id: int) -> None:
    cursor = conn.execute(
        f"UPDATE {MAIN_LOG_TABLE} SET cleared_at = ? WHERE id = ?", (now_utc(), mark_id)
    )
    check_written(conn, cursor.rowcount, LOG_TABLE)
    still_open = conn.execute(
        f"SELECT 1 FROM {MAIN_LOG_TABLE} WHERE id = ? AND cleared_at IS NULL", (mark_id,)
    ).fetchone()
    check_written(conn, 0 if still_open else 1, LOG_TABLE)
