"""What a fingerprint must see besides tables and rows (rowid values, AUTOINCREMENT counters,
ANALYZE statistics, the header), and differences named in words: indexes, STRICT, WITHOUT
ROWID, COLLATE, CHECK, foreign-key actions. Real SQLite databases; the Tracker must agree with
a full read after each step."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.db import runner
from ci.db.fingerprint import (
    REAPPLY,
    Tracker,
    describe_differences,
    fingerprint,
    schema_fingerprint,
)
from tests.conftest import make_db, run_module

SCHEMA = """
CREATE TABLE notes (body TEXT);
CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE shadow (rowid TEXT, v);
CREATE TABLE parent (id INTEGER PRIMARY KEY);
CREATE TABLE child (id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE, code TEXT COLLATE NOCASE,
    qty INTEGER CHECK (qty > 0), CHECK (code <> ''));
CREATE INDEX child_code ON child (code) WHERE code IS NOT NULL;
INSERT INTO notes VALUES ('a'), ('b'), ('c'), ('d');
DELETE FROM notes WHERE body = 'b';
INSERT INTO seq (v) VALUES ('x'), ('y'), ('z');
INSERT INTO kv VALUES ('x', 1);
INSERT INTO shadow VALUES ('r1', 1), ('r2', 2), ('r3', 3);
DELETE FROM shadow WHERE v = 2;
INSERT INTO parent VALUES (1);
"""


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = runner.connect(tmp_path / "t.db", durable=False)
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            connection.execute(statement)
    yield connection
    connection.close()


def run(conn: sqlite3.Connection, *statements: str) -> None:
    for statement in statements:
        conn.execute(statement)


def rebuild(table: str, create: str, columns: str = "*") -> list[str]:
    """A table rebuild: create the new one, copy, drop, rename."""
    return [
        "PRAGMA foreign_keys = OFF",
        create.replace(f"TABLE {table} ", f"TABLE {table}_new ", 1),
        f"INSERT INTO {table}_new SELECT {columns} FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE {table}_new RENAME TO {table}",
    ]


def differences(conn: sqlite3.Connection, *statements: str) -> list[str]:
    """What a full read and the Tracker both see after the statements (they must agree)."""
    tracker = Tracker(conn)
    before = fingerprint(conn)
    with tracker.watch():
        run(conn, *statements)
    full = fingerprint(conn)
    assert tracker.fingerprint == full
    found = describe_differences(before, full)
    assert describe_differences(before, tracker.now, only=tracker.changed) == found
    return found


# --- rowid values ----------------------------------------------------------------------------


def test_a_rebuild_that_renumbers_the_rows_is_a_difference(conn: sqlite3.Connection) -> None:
    found = differences(conn, *rebuild("notes", "CREATE TABLE notes (body TEXT)"))
    assert found == [
        "table notes: rows renumbered (same values, other rowid values): a table rebuild copies"
        " the rows without their rowid (INSERT INTO ... (rowid, ...) SELECT rowid, ... keeps it)"
    ]


def test_a_rebuild_that_keeps_the_rowids_is_none(conn: sqlite3.Connection) -> None:
    statements = rebuild("notes", "CREATE TABLE notes (body TEXT)", "rowid, *")
    statements[2] = "INSERT INTO notes_new (rowid, body) SELECT rowid, body FROM notes"
    assert differences(conn, *statements) == []


def test_the_rowid_is_read_by_a_free_name_when_a_column_is_called_rowid(
    conn: sqlite3.Connection,
) -> None:
    found = differences(conn, *rebuild("shadow", "CREATE TABLE shadow (rowid TEXT, v)"))
    assert found == [
        "table shadow: rows renumbered (same values, other rowid values): a table rebuild copies"
        " the rows without their rowid (INSERT INTO ... (rowid, ...) SELECT rowid, ... keeps it)"
    ]


def test_an_integer_primary_key_is_hashed_once_and_without_rowid_has_none(
    conn: sqlite3.Connection,
) -> None:
    groups = fingerprint(conn).groups
    assert groups["parent"].rowids is None  # the id column is the rowid: already in the hash
    assert groups["kv"].rowids is None
    assert groups["notes"].rowids is not None
    run(conn, "CREATE TABLE backwards (id INTEGER PRIMARY KEY DESC, v)")  # not the rowid
    assert fingerprint(conn).groups["backwards"].rowids is not None


# --- AUTOINCREMENT counters ------------------------------------------------------------------


def test_an_autoincrement_counter_left_higher_is_named(conn: sqlite3.Connection) -> None:
    found = differences(conn, "INSERT INTO seq (v) VALUES ('w')", "DELETE FROM seq WHERE v = 'w'")
    assert found == ["AUTOINCREMENT counter of seq: 3 before, 4 after"]


def test_a_counter_set_back_by_hand_is_seen_by_the_tracker(conn: sqlite3.Connection) -> None:
    run(conn, "INSERT INTO seq (v) VALUES ('w')", "DELETE FROM seq WHERE v = 'w'")
    found = differences(conn, "UPDATE sqlite_sequence SET seq = 3 WHERE name = 'seq'")
    assert found == ["AUTOINCREMENT counter of seq: 4 before, 3 after"]


def test_a_counter_reads_in_re_apply_words(conn: sqlite3.Connection) -> None:
    before = fingerprint(conn)
    run(conn, "INSERT INTO seq (v) VALUES ('w')", "DELETE FROM seq WHERE v = 'w'")
    assert describe_differences(before, fingerprint(conn), wording=REAPPLY) == [
        "AUTOINCREMENT counter of seq: 3 the first time, 4 after re-applying"
    ]


# --- ANALYZE statistics and the header ----------------------------------------------------


def test_analyze_statistics_left_behind_are_named(conn: sqlite3.Connection) -> None:
    assert differences(conn, "ANALYZE notes") == [
        "ANALYZE statistics of notes left behind by the migration"
    ]
    assert differences(conn, "DROP TABLE sqlite_stat1") == []  # gone again: nothing to say
    assert differences(conn, "ANALYZE child") == []  # an empty table gets no statistics
    # PRAGMA optimize runs ANALYZE where SQLite sees fit: the Tracker reads them again
    found = differences(conn, "PRAGMA optimize = 0x10002")
    assert set(found) <= {
        f"ANALYZE statistics of {t} left behind by the migration" for t in ("notes", "seq")
    }


def test_statistics_that_a_rebuild_deletes_are_not_a_difference(
    conn: sqlite3.Connection,
) -> None:
    run(conn, "ANALYZE")
    assert differences(conn, "DROP INDEX child_code") == ["index child_code on child missing"]


def test_a_snapshot_has_no_data_and_no_header(conn: sqlite3.Connection) -> None:
    printed = schema_fingerprint(conn)
    assert printed.header == () and printed.statistics is None
    assert all(
        g.rows is g.digest is g.rowids is g.sequence is None for g in printed.groups.values()
    )
    run(conn, "ANALYZE", "PRAGMA user_version = 3", "INSERT INTO seq (v) VALUES ('q')")
    assert describe_differences(printed, schema_fingerprint(conn)) == []


def test_the_header_reads_before_and_after(conn: sqlite3.Connection) -> None:
    assert differences(conn, "PRAGMA user_version = 3", "PRAGMA application_id = 7") == [
        "user_version 0 before, 3 after",
        "application_id 0 before, 7 after",
    ]


# --- what changed in a definition ------------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            ["DROP INDEX child_code", "CREATE INDEX child_code ON child (code) WHERE qty > 1"],
            ["index child_code WHERE code IS NOT NULL -> WHERE qty > 1"],
        ),
        (
            ["DROP INDEX child_code", "CREATE INDEX child_code ON child (code)"],
            ["index child_code WHERE code IS NOT NULL -> no WHERE (every row)"],
        ),
        (
            [
                "DROP INDEX child_code",
                "CREATE UNIQUE INDEX child_code ON child (code DESC) WHERE code IS NOT NULL",
            ],
            [
                "index child_code not UNIQUE -> UNIQUE",
                "index child_code columns (code) -> (code DESC)",
            ],
        ),
        (
            ["DROP INDEX child_code", "CREATE INDEX child_code ON child (lower(code), qty)"],
            [
                "index child_code columns (code) -> (lower(code), qty)",
                "index child_code WHERE code IS NOT NULL -> no WHERE (every row)",
            ],
        ),
    ],
)
def test_an_index_difference_says_what_changed(
    conn: sqlite3.Connection, statements: list[str], expected: list[str]
) -> None:
    assert differences(conn, *statements) == expected


CHILD = (
    "CREATE TABLE child (id INTEGER PRIMARY KEY,"
    " parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE, code TEXT COLLATE NOCASE,"
    " qty INTEGER CHECK (qty > 0), CHECK (code <> ''))"
)


@pytest.mark.parametrize(
    ("create", "expected"),
    [
        (CHILD + " STRICT", ["table child: not STRICT -> STRICT"]),
        (CHILD.replace("COLLATE NOCASE", ""), ["column child.code COLLATE NOCASE -> BINARY"]),
        (
            CHILD.replace("qty > 0", "qty >= 0"),
            ["column child.qty CHECK (qty > 0) -> CHECK (qty >= 0)"],
        ),
        (CHILD.replace(", CHECK (code <> '')", ""), ["table child CHECK (code <> '') missing"]),
        (
            CHILD.replace("ON DELETE CASCADE", "ON DELETE SET NULL ON UPDATE CASCADE"),
            [
                "foreign key child(parent_id) -> parent(id)"
                " ON DELETE CASCADE -> ON DELETE SET NULL",
                "foreign key child(parent_id) -> parent(id)"
                " ON UPDATE NO ACTION -> ON UPDATE CASCADE",
            ],
        ),
    ],
)
def test_a_table_difference_names_strict_collate_check_and_key_actions(
    conn: sqlite3.Connection, create: str, expected: list[str]
) -> None:
    statements = rebuild("child", create)
    statements.append("CREATE INDEX child_code ON child (code) WHERE code IS NOT NULL")
    assert differences(conn, *statements) == expected


def test_without_rowid_and_autoincrement_are_named(conn: sqlite3.Connection) -> None:
    kv = rebuild("kv", "CREATE TABLE kv (k TEXT PRIMARY KEY, v)")
    assert "table kv: WITHOUT ROWID -> rowid table" in differences(conn, *kv)
    seq = rebuild("seq", "CREATE TABLE seq (id INTEGER PRIMARY KEY, v TEXT)")
    assert differences(conn, *seq) == ["table seq: AUTOINCREMENT -> no AUTOINCREMENT"]


# --- the users of fingerprints keep their verdicts -------------------------------------------


def test_a_baseline_ignores_analyze_statistics(write_tree: object, tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "schema/migrations/schema").mkdir(parents=True)
    (root / "schema/migrations/rollback").mkdir(parents=True)
    (root / "schema/migrations/schema/0001_t.sql").write_text(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);\nCREATE INDEX t_name ON t (name);\n"
    )
    (root / "schema/migrations/rollback/0001_rollback.sql").write_text("DROP TABLE t;\n")
    make_db(
        root / "app.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);\n"
        "CREATE INDEX t_name ON t (name);\nINSERT INTO t VALUES (1, 'a');\nANALYZE;\n",
    )
    done = run_module("ci.migrate", "--db", "app.db", "--no-backup", "--baseline", "1", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
