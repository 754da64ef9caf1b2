"""The runner's own tables: `schema_version` and `schema_version_log`.

`schema_version` has one row per applied migration. Identity is (track, version): a unique index
on `(migration_type = 'seed', version)` lets `seed/0001` coexist with `schema/0001` without a
redundant track column. `schema_version_log` is append-only: every apply, rollback and failure,
plus *dirty marks* (action 'dirty', `cleared_at` NULL while open) left by a `@no-transaction` or
`@batch` migration that has started but not finished.

These functions never BEGIN or COMMIT: the runner owns the transaction they run in.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from ci import TOOL_NAME, __version__
from ci.core.findings import Record
from ci.core.model import (
    FIRST_VERSION,
    LAST_VERSION,
    VERSION_RANGE,
    InputError,
    label_of,
    track_of,
    version_in_range,
)

TABLE = "schema_version"
LOG_TABLE = "schema_version_log"
IDENTITY_INDEX = "schema_version_identity"
# The names the runner's own SQL uses: qualified, so a temporary table or view of the same name
# (which unqualified names would find first) can never receive or hide the runner's rows.
MAIN_TABLE = f"main.{TABLE}"
MAIN_LOG_TABLE = f"main.{LOG_TABLE}"
APPLIED_BY = f"{TOOL_NAME} {__version__}"
# who holds a dirty mark, as written in its applied_by column: "pid N on HOST started T boot B"
# (T: the process's start time in clock ticks since boot, B: the kernel's boot id); marks of
# earlier versions say only "pid N on HOST", and a system without /proc writes that too
OWNER_PATTERN = re.compile(
    r"pid (?P<pid>\d+) on (?P<host>\S+)(?: started (?P<start>\d+) boot (?P<boot>[\w-]+))?$"
)
# what DirtyMark.holder() finds about that process
GONE = "gone"  # provably stopped (or it is this very process): the mark may be taken over
ALIVE = "alive"  # still running: never take its mark
UNKNOWN = "unknown"  # cannot be told: a person must check and --force-clean

COLUMNS = (
    "version",
    "migration_type",
    "description",
    "file_hash",
    "applied_at",
    "execution_time_ms",
    "rows_affected",
    "applied_by",
    "code_hash",
)
CREATE_TABLE = f"""CREATE TABLE {MAIN_TABLE} (
    version INTEGER NOT NULL,
    migration_type TEXT NOT NULL DEFAULT 'schema',
    description TEXT NOT NULL DEFAULT '',
    file_hash TEXT,
    applied_at TEXT,
    execution_time_ms INTEGER,
    rows_affected INTEGER,
    applied_by TEXT,
    code_hash TEXT{{extra}}
)"""
CREATE_INDEX = (
    f"CREATE UNIQUE INDEX main.{IDENTITY_INDEX} ON {TABLE} (migration_type = 'seed', version)"
)
LOG_COLUMNS = (
    "id",
    "logged_at",
    "action",
    "version",
    "migration_type",
    "description",
    "file_hash",
    "execution_time_ms",
    "rows_affected",
    "error",
    "cleared_at",
    "applied_by",
)
CREATE_LOG = f"""CREATE TABLE IF NOT EXISTS {MAIN_LOG_TABLE} (
    id INTEGER PRIMARY KEY,
    logged_at TEXT NOT NULL,
    action TEXT NOT NULL,
    version INTEGER,
    migration_type TEXT,
    description TEXT,
    file_hash TEXT,
    execution_time_ms INTEGER,
    rows_affected INTEGER,
    error TEXT,
    cleared_at TEXT,
    applied_by TEXT
)"""

# The statements run once per migration, built once (the same string object each time, so
# the sqlite3 module's statement cache finds it without hashing a new string)
RECORD = f"INSERT INTO {MAIN_TABLE} ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
IS_APPLIED = f"SELECT 1 FROM {MAIN_TABLE} WHERE (migration_type = 'seed') = ? AND version = ?"
APPLIED_SEEDS = (
    f"SELECT version, description, file_hash FROM {MAIN_TABLE} "
    "WHERE (migration_type = 'seed') = 1 ORDER BY version"
)
RECORDED = (
    f"SELECT 1 FROM {MAIN_TABLE} WHERE (migration_type = 'seed') = ? AND version = ? "
    "AND migration_type IS ? AND file_hash IS ? AND code_hash IS ?"
)
UNRECORD = f"DELETE FROM {MAIN_TABLE} WHERE (migration_type = 'seed') = ? AND version = ?"
LOG = (
    f"INSERT INTO {MAIN_LOG_TABLE} (logged_at, action, version, migration_type, description, "
    "file_hash, execution_time_ms, rows_affected, error, applied_by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# Columns of older tables (the seed document's, other tools') that carry one of ours.
ALIASES = {
    "description": ("description", "name", "slug"),
    "file_hash": ("file_hash", "checksum", "hash", "sha256"),
    "applied_at": ("applied_at", "applied_on", "installed_on", "created_at"),
    "execution_time_ms": ("execution_time_ms", "execution_time", "duration_ms"),
    "rows_affected": ("rows_affected",),
    "applied_by": ("applied_by", "installed_by"),
    "migration_type": ("migration_type", "type", "kind"),
}


_second: list[object] = [None, ""]  # the last whole second formatted, and its text


def now_utc() -> str:
    """ISO 8601 UTC with milliseconds: 2026-11-25T09:50:01.123Z."""
    now = time.time()
    second = int(now)
    if _second[0] != second:  # strftime once per second, not once per row
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int(now % 1 * 1000):03d}Z"


# The records below are plain classes (ci.core.findings.Record), not frozen dataclasses: one is made
# per migration or per schema_version row, and `import dataclasses` costs ~10 ms of the start-up
# of ci.migrate, whose whole process the performance budgets (docs/design.md) measure. Treat them
# as immutable.


class AppliedRow(Record):
    """One row of `schema_version` (columns an older table lacks are None)."""

    FIELDS = COLUMNS  # a row of the table, column for column
    __slots__ = FIELDS

    def __init__(
        self,
        version: int,
        migration_type: str,
        description: str,
        file_hash: str | None,
        applied_at: str | None,
        execution_time_ms: int | None,
        rows_affected: int | None,
        applied_by: str | None,
        code_hash: str | None,
    ) -> None:
        self.version = version
        self.migration_type = migration_type
        self.description = description
        self.file_hash = file_hash
        self.applied_at = applied_at
        self.execution_time_ms = execution_time_ms
        self.rows_affected = rows_affected
        self.applied_by = applied_by
        self.code_hash = code_hash

    @property
    def track(self) -> str:
        return track_of(self.migration_type)

    @property
    def label(self) -> str:
        return label_of(self.track, self.version)


class DirtyMark(Record):
    """An open dirty mark: a migration that started outside one transaction and did not finish."""

    FIELDS = (
        "id",
        "logged_at",
        "version",
        "migration_type",
        "description",
        "file_hash",
        "rows_done",
        "error",
        "owner",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        id: int,
        logged_at: str,
        version: int,
        migration_type: str,
        description: str,
        file_hash: str | None,
        rows_done: int,
        error: str | None,
        owner: str | None = None,  # the run holding it, see OWNER_PATTERN
    ) -> None:
        self.id = id
        self.logged_at = logged_at
        self.version = version
        self.migration_type = migration_type
        self.description = description
        self.file_hash = file_hash
        self.rows_done = rows_done
        self.error = error
        self.owner = owner

    @property
    def track(self) -> str:
        return track_of(self.migration_type)

    def holder(self) -> tuple[str, str]:
        """(GONE, ALIVE or UNKNOWN, why) for the process that holds this mark.

        GONE only with proof, on this host: no process has its pid, or one has it but started
        at another time (the pid was reused), or the machine has restarted since. Anything
        else (another host, a mark without a start time whose pid is in use, /proc unreadable)
        is UNKNOWN: taking such a mark over could run the migration twice at once.
        """
        match = OWNER_PATTERN.search(self.owner or "")
        if match is None:
            return UNKNOWN, "the mark does not say which process holds it"
        if match["host"] != _hostname():
            return UNKNOWN, f"it was written on another host, {match['host']}"
        pid, start, boot = int(match["pid"]), match["start"], match["boot"]
        if pid <= 0:
            return UNKNOWN, f"the mark names pid {pid}"
        if boot is not None and boot_id() not in (None, boot):
            return GONE, "the machine has restarted since"
        exists = _pid_exists(pid)
        if exists is None:
            return UNKNOWN, f"cannot tell whether pid {pid} exists"
        if not exists:
            return GONE, f"no process has pid {pid}"
        if start is None:
            # an earlier version's mark, or a system without /proc: the pid may be reused
            return UNKNOWN, f"pid {pid} is in use and the mark records no process start time"
        now = process_start(pid)
        if now is None:
            if _pid_exists(pid) is False:
                return GONE, f"no process has pid {pid}"  # it ended just now
            return UNKNOWN, f"cannot read the start time of pid {pid}"
        if now != int(start):
            return GONE, f"pid {pid} is another process now (it started at another time)"
        if pid == os.getpid():
            return GONE, "this process holds it (an earlier run in it stopped)"
        return ALIVE, f"pid {pid} is still running"

    @property
    def holder_name(self) -> str:
        """The holder in a message: 'process 123 on HOST (migration-guard 1.0)'."""
        match = OWNER_PATTERN.search(self.owner or "")
        if match is None:
            return repr(self.owner) if self.owner else "an unrecorded process"
        tool = (self.owner or "")[: match.start()].strip()
        return f"process {match['pid']} on {match['host']}" + (f" ({tool})" if tool else "")

    @property
    def label(self) -> str:
        return label_of(self.track, self.version)


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
    return "current" if _is_our_log(columns(conn, LOG_TABLE)) else "missing"


def _is_our_log(have: list[str]) -> bool:
    return bool(have) and set(LOG_COLUMNS) <= set(have)


def _foreign_log(have: list[str]) -> str:
    """Why a `schema_version_log` of another shape (another tool's, a hand-made one) stops the
    runner: every run reads its dirty marks and appends to it."""
    return (
        f"table {LOG_TABLE} ({', '.join(have)}) exists but is not migration-guard's attempt log; "
        f"rename it (ALTER TABLE {LOG_TABLE} RENAME TO ...) or drop it, then run again"
    )


def _refuse_a_foreign_log(conn: sqlite3.Connection) -> None:
    """Before anything is created or rebuilt."""
    have = columns(conn, LOG_TABLE)
    if have and not _is_our_log(have):
        raise UpgradeRefused(_foreign_log(have))


def create_or_upgrade(conn: sqlite3.Connection, kinds: Mapping[int, str]) -> str:
    """Bring the tables to the current shape inside the caller's transaction.

    Returns what was done: 'none', 'created' or 'upgraded' (an older `schema_version`, e.g. the
    seed document's `version INTEGER PRIMARY KEY`, rebuilt keeping every row and column;
    `kinds` maps main-track versions to 'schema'/'data' for rows that do not say).
    """
    found = state(conn)
    if found == "current":
        return "none"
    _refuse_a_foreign_log(conn)
    conn.execute(CREATE_LOG)
    if found == "legacy":
        _upgrade(conn, kinds)
        _log(conn, "upgrade", error=None)
        return "upgraded"
    if not columns(conn, TABLE):
        conn.execute(CREATE_TABLE.format(extra=""))
        conn.execute(CREATE_INDEX)
    return "created"


class UpgradeRefused(Exception):
    """The older table has something the rebuild cannot keep (ci.db.upgrade); nothing changed."""


def _upgrade(conn: sqlite3.Connection, kinds: Mapping[int, str]) -> None:
    """Rebuild an older table in place, keeping every row and everything it carried."""
    from ci.db import upgrade  # only ever needed once per database

    upgrade.upgrade(conn, kinds)


def _quote(name: str | None) -> str:
    assert name is not None
    return '"' + name.replace('"', '""') + '"'


def read_applied(conn: sqlite3.Connection) -> list[AppliedRow]:
    """Every applied row, main track then seeds, by version; works on older tables too."""
    have = {c.lower(): c for c in columns(conn, TABLE)}
    if not have:
        return []
    select = []
    for column in COLUMNS:
        source = next((have[a] for a in ALIASES.get(column, (column,)) if a in have), None)
        select.append(_quote(source) if source else "NULL")
    rows = conn.execute(f"SELECT {', '.join(select)} FROM {MAIN_TABLE}").fetchall()
    if _has_odd_values(conn, select):
        try:
            applied = [_checked_row(r) for r in rows]
        except InputError as error:
            raise InputError(f"{database_file(conn)}: {error}") from None
    else:  # the common case, without a check per value (SQLite found no odd one)
        applied = [_row(r, r[0]) for r in rows]
    applied.sort(key=lambda row: (row.track == "seed", row.version))
    return applied


# What each column of a row may hold (None always may): a value of another type was written by
# hand or by another tool, and the runner would misread it (a BLOB hash never matches a file)
TEXT, NUMBER = (str,), (int, float)
EXPECTED = {
    "migration_type": TEXT,
    "description": TEXT + NUMBER,
    "file_hash": TEXT,
    "applied_at": TEXT + NUMBER,  # other tools store epoch seconds
    "logged_at": TEXT,
    "execution_time_ms": NUMBER,
    "rows_affected": NUMBER,
    "applied_by": TEXT,
    "code_hash": TEXT,
}
TYPE_NAMES = {str: "text", int: "an integer", float: "a real number", bytes: "a BLOB"}


SQL_TYPES = {
    TEXT: "'text'",
    TEXT + NUMBER: "'text', 'integer', 'real'",
    NUMBER: "'integer', 'real'",
}


def _has_odd_values(conn: sqlite3.Connection, select: list[str]) -> bool:
    """Whether any row holds a value _checked_row would look at twice: a version that is not
    an integer in range, or a value of another type than its column's (one query, in SQLite)."""
    version = select[0]
    odd = [
        f"typeof({version}) <> 'integer'",
        f"{version} NOT BETWEEN {FIRST_VERSION} AND {LAST_VERSION}",
    ]
    for column, expression in zip(COLUMNS[1:], select[1:], strict=True):
        if expression != "NULL":
            odd.append(f"typeof({expression}) NOT IN ({SQL_TYPES[EXPECTED[column]]}, 'null')")
    found = conn.execute(f"SELECT 1 FROM {MAIN_TABLE} WHERE {' OR '.join(odd)} LIMIT 1").fetchone()
    return found is not None


def checked_version(value: object, where: str = TABLE) -> int:
    """A row's version as a migration number; InputError with one line when it is not one."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int):
        shown = "a BLOB" if isinstance(value, bytes) else repr(value)
        fix = (
            "the table was written by another tool: rename it, or convert its versions to numbers"
            if where == TABLE
            else "correct or delete that row by hand"
        )
        raise InputError(f"{where}: version {shown} is not a migration number; {fix}")
    if not version_in_range(value):
        raise InputError(
            f"{where}: version {value} is out of range (migration numbers are between "
            f"{VERSION_RANGE}); correct or delete that row by hand"
        )
    return value


def check_value(label: str, column: str, value: object, table: str = TABLE) -> None:
    """InputError naming the row and column when a bookkeeping value has the wrong type."""
    expected = EXPECTED.get(column, TEXT)
    if value is None or isinstance(value, expected):
        return
    wanted = "text" if expected[0] is str else "an integer"
    raise InputError(
        f"{table} row for {label}: {column} is {TYPE_NAMES.get(type(value), 'unreadable')}, "
        f"expected {wanted}; the row was changed by hand or by another tool: correct it"
    )


def database_file(conn: sqlite3.Connection) -> str:
    """The main database's file name, for a message about one of its rows."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or ":memory:"
    return "database"


def _checked_mark(row: tuple[object, ...]) -> tuple[object, ...]:
    """An open dirty mark's row (open_marks' columns), checked as schema_version rows are."""
    where = f"{LOG_TABLE} dirty mark id {row[0]}"
    version = checked_version(row[2], where)
    names = ("logged_at", "migration_type", "description", "file_hash", "rows_affected")
    for column, value in zip((*names, "error", "applied_by"), (row[1], *row[3:]), strict=True):
        check_value(f"dirty mark id {row[0]}", column, value, LOG_TABLE)
    return (row[0], str(row[1]), version, *row[3:])


def _checked_row(r: tuple[object, ...]) -> AppliedRow:
    version = checked_version(r[0])
    label = label_of(track_of(r[1] if isinstance(r[1], str) else ""), version)
    for column, value in zip(COLUMNS[1:], r[1:], strict=True):
        check_value(label, column, value)
    return _row(r, version)


def _row(r: tuple[Any, ...], version: int) -> AppliedRow:
    """A row whose values have their column's types (checked by the caller)."""
    return AppliedRow(
        version=version,
        migration_type=str(r[1] or "schema"),
        description=str(r[2] or ""),
        file_hash=r[3],
        applied_at=None if r[4] is None else str(r[4]),
        execution_time_ms=r[5],
        rows_affected=r[6],
        applied_by=r[7],
        code_hash=r[8],
    )


def is_applied(conn: sqlite3.Connection, track: str, version: int) -> bool:
    row = conn.execute(
        IS_APPLIED,
        (track == "seed", version),
    ).fetchone()
    return row is not None


class Entry(Record):
    """What a bookkeeping row says about one migration."""

    FIELDS = ("version", "migration_type", "description", "file_hash", "code_hash")
    __slots__ = FIELDS

    def __init__(
        self,
        version: int,
        migration_type: str,
        description: str,
        file_hash: str | None = None,
        code_hash: str | None = None,
    ) -> None:
        self.version = version
        self.migration_type = migration_type
        self.description = description
        self.file_hash = file_hash
        self.code_hash = code_hash

    @property
    def track(self) -> str:
        return track_of(self.migration_type)


def applied_seeds(conn: sqlite3.Connection) -> list[Entry]:
    """The applied seeds, by version (through the identity index: no scan of the main track)."""
    rows = conn.execute(APPLIED_SEEDS).fetchall()
    return [
        Entry(int(v), "seed", str(d or ""), h if isinstance(h, str) else None) for v, d, h in rows
    ]


class NotWritten(InputError):
    """One of the runner's own rows was not written as asked (a trigger ignored or changed it):
    the runner fails the migration and rolls it back (elsewhere: one line, exit 2)."""


def record(conn: sqlite3.Connection, entry: Entry, *, ms: int, rows: int) -> None:
    """Write the migration's row; NotWritten unless it is there afterwards as written."""
    cursor = conn.execute(
        RECORD,
        (
            entry.version,
            entry.migration_type,
            entry.description,
            entry.file_hash,
            now_utc(),
            ms,
            rows,
            APPLIED_BY,
            entry.code_hash,
        ),
    )
    # a BEFORE trigger's RAISE(IGNORE) leaves the row unwritten (rowcount 0); an AFTER trigger
    # may delete or change it: either way the migration would apply again on the next run
    check_written(conn, cursor.rowcount, TABLE)
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
    entry: Entry,
    *,
    ms: int | None = None,
    rows: int | None = None,
    error: str | None = None,
) -> int:
    """Append one attempt to schema_version_log; returns its id."""
    return _log(conn, action, entry=entry, ms=ms, rows=rows, error=error)


def _log(
    conn: sqlite3.Connection,
    action: str,
    *,
    entry: Entry | None = None,
    ms: int | None = None,
    rows: int | None = None,
    error: str | None,
) -> int:
    cursor = conn.execute(
        LOG,
        (
            now_utc(),
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
    if not _is_our_log(have):
        raise InputError(f"{database_file(conn)}: {_foreign_log(have)}")
    rows = conn.execute(
        f"SELECT id, logged_at, version, migration_type, description, file_hash, "
        f"COALESCE(rows_affected, 0), error, applied_by FROM {MAIN_LOG_TABLE} "
        "WHERE action = 'dirty' AND cleared_at IS NULL ORDER BY id"
    ).fetchall()
    try:
        return [DirtyMark(*_checked_mark(row)) for row in rows]  # type: ignore[arg-type]
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


def owner() -> str:
    """This process as a mark's holder: pid, host and, where /proc tells, start time and boot."""
    pid = os.getpid()
    text = f"{APPLIED_BY} pid {pid} on {_hostname()}"
    start, boot = process_start(pid), boot_id()
    if start is None or boot is None:
        return text  # only a pid that no longer exists will prove this holder gone
    return f"{text} started {start} boot {boot}"


def _hostname() -> str:
    import socket

    return socket.gethostname()


def process_start(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (Linux /proc/PID/stat, field 22);
    None where that cannot be read. Together with the pid it names one process: a pid is
    reused, a (pid, start time) pair not until the machine restarts."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
        # field 2 is the command in parentheses and may itself contain ") "; field 3 follows
        # the last ')', so field 22 is the 20th field after it
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def boot_id() -> str | None:
    """The kernel's id of this boot (Linux), None where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as source:
            return source.read().strip() or None
    except OSError:
        return None


def _pid_exists(pid: int) -> bool | None:
    """Whether a process has this pid (None: cannot tell)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    except OSError:
        return None
    return True


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
