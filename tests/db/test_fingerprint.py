"""Fingerprints on real SQLite databases: normalisation, differences in words, and the Tracker
(which reads only what a step touched) agreeing with a full read after every kind of change."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.db import runner
from ci.db.fingerprint import (
    DRIFT,
    Tracker,
    describe_differences,
    fingerprint,
    normalise_sql,
    schema_fingerprint,
)
from ci.db.fingerprint_schema import _columns, _foreign_keys, _indexes, _table_shape

SCHEMA = """
CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT UNIQUE, notes TEXT);
CREATE INDEX idx_patients_notes ON patients (notes);
CREATE TABLE vitals (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER REFERENCES patients (id) ON DELETE CASCADE,
    value REAL NOT NULL
);
CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE audit (what TEXT);
CREATE TRIGGER vitals_audit AFTER INSERT ON vitals BEGIN INSERT INTO audit VALUES ('v'); END;
CREATE VIEW latest AS SELECT patient_id, max(id) AS id FROM vitals GROUP BY patient_id;
INSERT INTO patients (mrn, notes) VALUES ('M1', 'a'), ('M2', 'b'), ('M3', NULL);
INSERT INTO vitals (patient_id, value) VALUES (1, 1.5), (2, 2.5), (2, 3.5);
INSERT INTO kv VALUES ('x', 1), ('y', 2);
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


def test_normalise_sql_folds_quoting_whitespace_comments_and_case() -> None:
    renamed = 'CREATE TABLE "patients"(id  INTEGER, -- the id\n "mrn" TEXT)'
    written = "create table patients (\n  id integer,\n  mrn text\n)"
    assert normalise_sql(renamed) == normalise_sql(written)
    bracketed = normalise_sql("CREATE TABLE [my table] (a)")
    assert bracketed == normalise_sql('create table "my table"(a)')
    # string literals keep their case and spacing
    assert normalise_sql("DEFAULT 'Ab  c'") != normalise_sql("DEFAULT 'ab c'")


def test_a_rebuild_with_rename_equals_the_original(conn: sqlite3.Connection) -> None:
    before = fingerprint(conn)
    run(
        conn,
        "PRAGMA foreign_keys = OFF",
        "CREATE TABLE kv_new (k TEXT PRIMARY KEY, v) WITHOUT ROWID",
        "INSERT INTO kv_new SELECT * FROM kv",
        "DROP TABLE kv",
        "ALTER TABLE kv_new RENAME TO kv",
    )
    assert describe_differences(before, fingerprint(conn)) == []


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (["CREATE INDEX idx_x ON vitals (value)"], ["index idx_x on vitals left behind"]),
        (["DROP TABLE audit"], ["table audit missing (3 rows lost)"]),
        (["DROP TABLE kv"], ["table kv missing (2 rows lost)"]),
        (["ALTER TABLE patients ADD COLUMN phone TEXT"], ["column patients.phone still present"]),
        (["DROP INDEX idx_patients_notes"], ["index idx_patients_notes on patients missing"]),
        (["DELETE FROM vitals WHERE id = 3"], ["table vitals: 1 row lost"]),
        (["UPDATE kv SET v = 3 WHERE k = 'y'"], ["table kv: content changed (same row count)"]),
        (["INSERT INTO kv VALUES ('z', 0)"], ["table kv: 1 row extra"]),
        (["DROP TRIGGER vitals_audit"], ["trigger vitals_audit missing"]),
        (
            ["DROP VIEW latest", "CREATE VIEW latest AS SELECT 1 AS id"],
            ["view latest definition changed"],
        ),
    ],
)
def test_differences_in_reviewer_words(
    conn: sqlite3.Connection, statements: list[str], expected: list[str]
) -> None:
    before = fingerprint(conn)
    run(conn, *statements)
    assert describe_differences(before, fingerprint(conn)) == expected


def test_a_column_restored_with_another_type(conn: sqlite3.Connection) -> None:
    before = fingerprint(conn)
    run(
        conn,
        "PRAGMA foreign_keys = OFF",
        "CREATE TABLE p2 (id INTEGER PRIMARY KEY, mrn TEXT UNIQUE, notes VARCHAR(768))",
        "INSERT INTO p2 SELECT * FROM patients",
        "DROP TABLE patients",
        "ALTER TABLE p2 RENAME TO patients",
        "CREATE INDEX idx_patients_notes ON patients (notes)",
    )
    assert describe_differences(before, fingerprint(conn)) == [
        "column patients.notes type TEXT -> VARCHAR(768)"
    ]


def test_foreign_key_and_nullability_differences(conn: sqlite3.Connection) -> None:
    before = fingerprint(conn)
    run(
        conn,
        "PRAGMA foreign_keys = OFF",
        "DROP VIEW latest",
        "CREATE TABLE v2 (id INTEGER PRIMARY KEY, patient_id INTEGER, value REAL)",
        "INSERT INTO v2 SELECT * FROM vitals",
        "DROP TABLE vitals",
        "ALTER TABLE v2 RENAME TO vitals",
    )
    lines = describe_differences(before, fingerprint(conn))
    assert "column vitals.value NOT NULL -> NULL allowed" in lines
    assert "foreign key vitals(patient_id) -> patients(id) missing" in lines
    assert "trigger vitals_audit missing" in lines
    assert "view latest missing" in lines


def test_drift_wording(conn: sqlite3.Connection) -> None:
    expected = schema_fingerprint(conn)
    run(conn, "CREATE INDEX idx_new ON kv (v)")
    assert describe_differences(expected, schema_fingerprint(conn), wording=DRIFT) == [
        "index idx_new on kv created by the migrations but not in the snapshot"
    ]


def test_schema_fingerprint_ignores_data_and_bookkeeping(conn: sqlite3.Connection) -> None:
    before = schema_fingerprint(conn)
    run(
        conn,
        "DELETE FROM vitals",
        "CREATE TABLE schema_version (version INTEGER)",
        "CREATE TABLE t_auto (id INTEGER PRIMARY KEY AUTOINCREMENT)",
        "DROP TABLE t_auto",  # leaves sqlite_sequence behind: internal, not compared
    )
    assert describe_differences(before, schema_fingerprint(conn)) == []


STEPS = [
    ["INSERT INTO vitals (patient_id, value) VALUES (1, 9.0)"],  # trigger writes audit
    ["DELETE FROM patients WHERE id = 2"],  # cascade deletes vitals rows
    ["ALTER TABLE patients ADD COLUMN phone TEXT"],
    ["DROP INDEX idx_patients_notes", "ALTER TABLE patients DROP COLUMN notes"],
    ["ALTER TABLE patients RENAME COLUMN notes TO remarks"],  # rewrites the index
    ["ALTER TABLE audit RENAME TO audit_log"],  # rewrites the trigger on vitals
    ["CREATE TABLE fresh (a)", "INSERT INTO fresh VALUES (1)"],
    ["DROP TABLE kv"],
    ["UPDATE kv SET v = v + 1"],
    ["PRAGMA foreign_keys = OFF", "DROP TABLE patients"],
    ["DROP VIEW latest", "CREATE VIEW latest AS SELECT id FROM vitals"],
]


@pytest.mark.parametrize("statements", STEPS)
def test_tracker_agrees_with_a_full_read(conn: sqlite3.Connection, statements: list[str]) -> None:
    tracker = Tracker(conn)
    before = tracker.fingerprint
    with tracker.watch():
        run(conn, *statements)
    full = fingerprint(conn)
    assert tracker.fingerprint == full
    assert describe_differences(before, full) != []
    assert describe_differences(before, tracker.fingerprint, only=tracker.changed) == (
        describe_differences(before, full)
    )


def test_tracker_sees_statements_the_driver_has_cached(conn: sqlite3.Connection) -> None:
    tracker = Tracker(conn)
    statement = "UPDATE kv SET v = v + 1"
    with tracker.watch():
        run(conn, statement)
    after_first = tracker.fingerprint
    with tracker.watch():
        run(conn, statement)  # same text: served from the statement cache
    assert "kv" in tracker.changed
    assert tracker.fingerprint == fingerprint(conn) != after_first


def test_content_is_hashed_in_batches(conn: sqlite3.Connection) -> None:
    run(conn, "CREATE TABLE big (n INTEGER)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO big VALUES (?)", ((i,) for i in range(5000)))
    conn.execute("COMMIT")
    before = fingerprint(conn)
    run(conn, "UPDATE big SET n = -1 WHERE n = 4321")
    assert before.groups["big"].rows == 5000
    assert describe_differences(before, fingerprint(conn)) == [
        "table big: content changed (same row count)"
    ]


# Steps where an index or trigger changes: the Tracker keeps a table's rows without reading
# them only when nothing wrote to it and the table itself was not created, dropped or altered.
INDEX_AND_TRIGGER_STEPS = [
    ["CREATE INDEX idx_vitals_value ON vitals (value)"],
    ["CREATE INDEX idx_vitals_value ON vitals (value)", "UPDATE vitals SET value = value + 1"],
    ["DROP INDEX idx_patients_notes", "DELETE FROM patients WHERE id = 3"],
    ["DROP TRIGGER vitals_audit", "INSERT INTO vitals (patient_id, value) VALUES (1, 7.0)"],
    [
        "CREATE TRIGGER patients_audit AFTER UPDATE ON patients"
        " BEGIN INSERT INTO audit VALUES ('p'); END",
        "UPDATE patients SET notes = 'z'",
    ],
    # the same table again, empty, and an index: its rows are gone although its SQL is the same
    [
        "DROP TABLE kv",
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID",
        "CREATE INDEX kv_v ON kv (v)",
    ],
]


@pytest.mark.parametrize("statements", INDEX_AND_TRIGGER_STEPS)
def test_tracker_agrees_with_a_full_read_after_index_and_trigger_steps(
    conn: sqlite3.Connection, statements: list[str]
) -> None:
    tracker = Tracker(conn)
    before = fingerprint(conn)
    with tracker.watch():
        run(conn, *statements)
    full = fingerprint(conn)
    assert tracker.fingerprint == full
    assert describe_differences(before, tracker.now, only=tracker.changed) == (
        describe_differences(before, full)
    )


def test_a_fingerprint_handed_out_stays_as_it_was(conn: sqlite3.Connection) -> None:
    tracker = Tracker(conn)
    first = tracker.fingerprint
    unchanged = fingerprint(conn)
    with tracker.watch():
        run(conn, "CREATE INDEX idx_kv_v ON kv (v)", "UPDATE kv SET v = v * 10")
    assert first == unchanged != tracker.fingerprint
    second = tracker.fingerprint
    with tracker.watch():
        run(conn, "DELETE FROM audit")  # no rows: nothing to see, but a step all the same
    with tracker.watch():
        run(conn, "UPDATE kv SET v = v + 1")
    assert first == unchanged
    assert second != tracker.fingerprint == tracker.now == fingerprint(conn)


def test_one_query_reads_what_the_separate_pragmas_read(conn: sqlite3.Connection) -> None:
    run(
        conn,
        "CREATE TABLE pairs (x INT, y INT, z TEXT NOT NULL DEFAULT 'd', w AS (x + 1),"
        " PRIMARY KEY (x, y), FOREIGN KEY (x, y) REFERENCES kv2 (m, n) ON DELETE CASCADE,"
        " FOREIGN KEY (z) REFERENCES patients (mrn), FOREIGN KEY (x) REFERENCES patients)"
        " WITHOUT ROWID",
        "CREATE INDEX pairs_expr ON pairs (x + y, z DESC)",
        "CREATE UNIQUE INDEX pairs_partial ON pairs (z) WHERE z > 'a'",
    )
    for table in ("patients", "vitals", "kv", "audit", "pairs", "latest", "missing"):
        separate = (_columns(conn, table), _indexes(conn, table), _foreign_keys(conn, table))
        assert _table_shape(conn, table) == separate
    assert len(_table_shape(conn, "pairs")[2]) == 3
