"""The runner's own tables, row by row, on real SQLite files: ci.db.bookkeeping (record and
read back, the attempt log, dirty marks) and the modules it was split into: ci.db.prepare
(create), ci.db.tables (names and columns), ci.db.records (rows and marks), ci.db.holders (who
holds a mark) and ci.db.values (the one-line errors for rows another tool wrote).

What the runner does with them (apply, rollback, dirty marks across runs, legacy upgrades) is in
test_runner.py and test_bookkeeping_truth.py; here each public function on its own.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.core.model import InputError
from ci.db import bookkeeping, holders, prepare, tables, values
from ci.db.bookkeeping import NotWritten
from ci.db.records import DirtyMark, Entry
from ci.db.tables import UpgradeRefused

SCHEMA_1 = Entry(1, "schema", "init", "v1:" + "a" * 64, "c" * 64)
DATA_2 = Entry(2, "data", "fill", "v1:" + "b" * 64)
SEED_1 = Entry(1, "seed", "defaults", "v1:" + "d" * 64)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A new database file in autocommit mode (the runner owns transactions; none here)."""
    connection = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    yield connection
    connection.close()


@pytest.fixture
def ready(conn: sqlite3.Connection) -> sqlite3.Connection:
    assert prepare.create_or_upgrade(conn, {}) == "created"
    return conn


def test_tables_are_created_once(conn: sqlite3.Connection) -> None:
    assert bookkeeping.state(conn) == "missing"
    assert prepare.create_or_upgrade(conn, {}) == "created"
    assert bookkeeping.state(conn) == "current"
    assert prepare.create_or_upgrade(conn, {}) == "none"
    assert bookkeeping.columns(conn, tables.TABLE) == list(tables.COLUMNS)


def test_an_older_schema_version_is_legacy(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
    assert bookkeeping.state(conn) == "legacy"


def test_another_tools_log_table_is_refused_with_the_way_out(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE schema_version_log (id INTEGER, note TEXT)")
    with pytest.raises(UpgradeRefused, match=r"\(id, note\) exists but is not migration-guard"):
        prepare.create_or_upgrade(conn, {})
    assert bookkeeping.columns(conn, tables.TABLE) == []  # nothing created
    with pytest.raises(InputError, match=r"app\.db: table schema_version_log .* rename it"):
        bookkeeping.open_marks(conn)


def test_recorded_rows_read_back_main_track_first_then_seeds(ready: sqlite3.Connection) -> None:
    for entry, rows in ((SEED_1, 1), (DATA_2, 7), (SCHEMA_1, 0)):
        bookkeeping.record(ready, entry, ms=12, rows=rows)
    applied = bookkeeping.read_applied(ready)
    assert [(r.label, r.migration_type, r.track, r.rows_affected) for r in applied] == [
        ("0001", "schema", "main", 0),
        ("0002", "data", "main", 7),
        ("seed-0001", "seed", "seed", 1),
    ]
    first = applied[0]
    assert (first.file_hash, first.code_hash, first.execution_time_ms) == (
        SCHEMA_1.file_hash,
        SCHEMA_1.code_hash,
        12,
    )
    assert first.applied_by == tables.APPLIED_BY
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first.applied_at))
    assert bookkeeping.applied_seeds(ready) == [Entry(1, "seed", "defaults", SEED_1.file_hash)]


def test_a_seed_and_a_main_migration_of_one_number_are_different_rows(
    ready: sqlite3.Connection,
) -> None:
    bookkeeping.record(ready, SEED_1, ms=0, rows=0)
    assert bookkeeping.is_applied(ready, "seed", 1)
    assert not bookkeeping.is_applied(ready, "main", 1)
    bookkeeping.record(ready, SCHEMA_1, ms=0, rows=0)
    bookkeeping.unrecord(ready, "main", 1)
    assert not bookkeeping.is_applied(ready, "main", 1)
    assert bookkeeping.is_applied(ready, "seed", 1)


def test_a_row_a_trigger_swallows_is_not_written(ready: sqlite3.Connection) -> None:
    ready.execute(
        "CREATE TRIGGER keep_out BEFORE INSERT ON schema_version BEGIN SELECT RAISE(IGNORE); END"
    )
    with pytest.raises(NotWritten, match=r"a trigger on schema_version \(keep_out\) ignores"):
        bookkeeping.record(ready, SCHEMA_1, ms=0, rows=0)


def test_a_row_a_trigger_keeps_is_not_unrecorded(ready: sqlite3.Connection) -> None:
    bookkeeping.record(ready, SCHEMA_1, ms=0, rows=0)
    ready.execute(
        "CREATE TEMP TRIGGER stay BEFORE DELETE ON main.schema_version "
        "BEGIN SELECT RAISE(IGNORE); END"
    )
    with pytest.raises(NotWritten, match=r"\(stay\)"):
        bookkeeping.unrecord(ready, "main", 1)


def test_the_log_appends_attempts_with_their_ids(ready: sqlite3.Connection) -> None:
    first = bookkeeping.log(ready, "apply", SCHEMA_1, ms=3, rows=0)
    second = bookkeeping.log(ready, "failed", DATA_2, error="no such table: t")
    assert second == first + 1
    rows = ready.execute(
        "SELECT id, action, version, migration_type, execution_time_ms, error, applied_by "
        "FROM schema_version_log ORDER BY id"
    ).fetchall()
    assert rows == [
        (first, "apply", 1, "schema", 3, None, tables.APPLIED_BY),
        (second, "failed", 2, "data", None, "no such table: t", tables.APPLIED_BY),
    ]


def test_a_dirty_mark_opens_counts_rows_and_clears(ready: sqlite3.Connection) -> None:
    mark = bookkeeping.open_mark(ready, DATA_2)
    assert (mark.label, mark.track, mark.rows_done, mark.owner) == (
        "0002",
        "main",
        0,
        holders.owner(),
    )
    bookkeeping.update_mark(ready, mark.id, rows=40)
    bookkeeping.update_mark(ready, mark.id, error="disk full")  # rows stay as they were
    (found,) = bookkeeping.open_marks(ready)
    assert (found.id, found.rows_done, found.error) == (mark.id, 40, "disk full")
    assert bookkeeping.find_mark(ready, DATA_2) == found
    assert bookkeeping.find_mark(ready, SCHEMA_1) is None
    bookkeeping.clear_mark(ready, mark.id)
    assert bookkeeping.open_marks(ready) == []


def test_no_log_table_means_no_marks(conn: sqlite3.Connection) -> None:
    assert bookkeeping.open_marks(conn) == []


def mark_held_by(owner: str | None) -> DirtyMark:
    return DirtyMark(1, "2026-01-01T00:00:00.000Z", 2, "data", "fill", None, 0, None, owner)


def free_pid() -> int:
    """A pid no process has (the highest ones are not handed out soon)."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_this_process_is_its_own_marks_holder_and_may_take_it_over() -> None:
    state, why = mark_held_by(holders.owner()).holder()
    assert (state, why) == (
        holders.GONE,
        "this process holds it (an earlier run in it stopped)",
    )


def test_a_holder_that_is_gone_or_cannot_be_told(tmp_path: Path) -> None:
    host = holders.owner().split(" on ", 1)[1].split()[0]
    assert mark_held_by(f"tool pid {free_pid()} on {host}").holder() == (
        holders.GONE,
        f"no process has pid {free_pid()}",
    )
    assert mark_held_by("tool pid 1 on another-host").holder()[0] == holders.UNKNOWN
    assert mark_held_by(None).holder() == (
        holders.UNKNOWN,
        "the mark does not say which process holds it",
    )
    assert mark_held_by(f"pid 0 on {host}").holder() == (
        holders.UNKNOWN,
        "the mark names pid 0",
    )
    # a live pid and no start time: it may be another process that got the number
    assert mark_held_by(f"pid {os.getpid()} on {host}").holder()[0] == holders.UNKNOWN


@pytest.mark.skipif(holders.process_start(1) is None, reason="no /proc here")
def test_a_holder_that_still_runs_is_alive() -> None:
    host = holders.owner().split(" on ", 1)[1].split()[0]
    start, boot = holders.process_start(1), holders.boot_id()
    held = mark_held_by(f"pid 1 on {host} started {start} boot {boot}")
    assert held.holder() == (holders.ALIVE, "pid 1 is still running")
    reused = mark_held_by(f"pid 1 on {host} started {int(str(start)) + 1} boot {boot}")
    assert reused.holder()[0] == holders.GONE  # the pid now names another process
    rebooted = mark_held_by(f"pid 1 on {host} started {start} boot another-boot")
    assert rebooted.holder() == (holders.GONE, "the machine has restarted since")


def test_holder_names_in_messages() -> None:
    assert mark_held_by("migration-guard 1.0 pid 12 on ward-3").holder_name == (
        "process 12 on ward-3 (migration-guard 1.0)"
    )
    assert mark_held_by("someone").holder_name == "'someone'"
    assert mark_held_by(None).holder_name == "an unrecorded process"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("12", 12), (999_999_999, 999_999_999)],
)
def test_checked_version_takes_migration_numbers(value: object, expected: int) -> None:
    assert values.checked_version(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("v7", "version 'v7' is not a migration number; the table was written by another tool"),
        (b"\x01", "version a BLOB is not a migration number"),
        (2.5, "version 2.5 is not a migration number"),
        (0, "version 0 is out of range"),
        (1_000_000_000, "version 1000000000 is out of range"),
    ],
)
def test_checked_version_refuses_in_one_line(value: object, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        values.checked_version(value)


def test_check_value_names_row_column_and_types() -> None:
    values.check_value("0001", "file_hash", None)
    values.check_value("0001", "rows_affected", 3.0)
    with pytest.raises(InputError, match="schema_version row for 0001: file_hash is a BLOB, "):
        values.check_value("0001", "file_hash", b"\x00")
    with pytest.raises(InputError, match="rows_affected is text, expected an integer"):
        values.check_value("0001", "rows_affected", "three")


def test_a_row_written_by_hand_is_one_line_naming_the_database(
    ready: sqlite3.Connection,
) -> None:
    ready.execute(
        "INSERT INTO schema_version (version, migration_type, file_hash) VALUES (3, 'data', x'00')"
    )
    with pytest.raises(InputError, match=r"app\.db: schema_version row for 0003: file_hash is a"):
        bookkeeping.read_applied(ready)


def test_read_applied_on_a_database_without_the_table(conn: sqlite3.Connection) -> None:
    assert bookkeeping.read_applied(conn) == []


def test_database_file_names_the_main_file(conn: sqlite3.Connection, tmp_path: Path) -> None:
    assert values.database_file(conn) == str(tmp_path / "app.db")
    memory = sqlite3.connect(":memory:")
    try:
        assert values.database_file(memory) == ":memory:"
    finally:
        memory.close()


def test_owner_names_this_process_as_the_pattern_reads_it() -> None:
    match = holders.OWNER_PATTERN.search(holders.owner())
    assert match is not None and int(match["pid"]) == os.getpid()
    assert holders.owner().startswith(f"{tables.APPLIED_BY} pid ")


GOOD_ROW = (3, "data", "fill", "v1:" + "0" * 64, "2026-01-01T00:00:00.000Z", 5, 2, "mg 1", None)


@pytest.mark.parametrize(
    ("column", "value", "odd"),
    [
        (0, "3", True),  # a text version
        (0, 0, True),
        (0, 1_000_000_000, True),
        (0, 3.0, True),
        (0, None, True),
        (1, None, False),
        (1, 7, True),  # migration_type must be text
        (2, 7, False),  # a description may be a number
        (3, b"\x00", True),
        (4, 1700000000, False),  # epoch seconds, as other tools store them
        (5, 2.5, False),
        (5, "2", True),
        (8, b"\x00", True),
    ],
)
def test_has_odd_values_is_what_sqlite_typeof_says(
    ready: sqlite3.Connection, column: int, value: object, odd: bool
) -> None:
    """The Python-side check on the fetched values (one pass per column) answers as a typeof()
    query over the same rows does, for every column and the version's range."""
    row = list(GOOD_ROW)
    row[column] = value
    rows = [GOOD_ROW, tuple(row)]
    assert values.has_odd_values(rows) is odd
    assert values.has_odd_values([GOOD_ROW]) is False and values.has_odd_values([]) is False
    ready.execute("CREATE TEMP TABLE t (v, m, d, h, a, e, r, b, c)")
    ready.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    kinds = ready.execute(
        "SELECT typeof(v), v, typeof(m), typeof(d), typeof(h), typeof(a), typeof(e), "
        "typeof(r), typeof(b), typeof(c) FROM t"
    ).fetchall()
    allowed = {
        "m": {"text"},
        "d": {"text", "integer", "real"},
        "h": {"text"},
        "a": {"text", "integer", "real"},
        "e": {"integer", "real"},
        "r": {"integer", "real"},
        "b": {"text"},
        "c": {"text"},
    }
    by_sql = any(
        k[0] != "integer"
        or not 1 <= k[1] <= 999_999_999
        or any(t not in allowed[c] | {"null"} for c, t in zip("mdhaerbc", k[2:], strict=True))
        for k in kinds
    )
    assert by_sql is odd
