"""SchemaRows (ci.db.schema_shapes): a few groups read again by rowid give the same shapes as a
scan of the whole schema, through drops, rowids taken again, rebuilds and ALTERs."""

from __future__ import annotations

import sqlite3

import pytest

from ci.db.schema_shapes import SchemaRows, read_shapes

STEPS = [
    # (SQL, the groups its statements name: what the schema watch passes to refresh)
    ("CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT UNIQUE)", {"a"}),
    ("CREATE TABLE b (id INTEGER PRIMARY KEY)", {"b"}),
    ("CREATE INDEX b_id ON b (id)", {"b"}),
    # b's rows were the highest: c takes one of their rowids again
    ("DROP TABLE b; CREATE TABLE c (id INTEGER PRIMARY KEY, y TEXT)", {"b", "c"}),
    ("ALTER TABLE c ADD COLUMN z TEXT", {"c"}),
    ("CREATE TRIGGER a_t AFTER INSERT ON a BEGIN SELECT 1; END", {"a"}),
    (
        "CREATE TABLE a_new (id INTEGER PRIMARY KEY, x TEXT NOT NULL); DROP TABLE a;"
        " CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT NOT NULL); DROP TABLE a_new",
        {"a", "a_new"},
    ),
    ("ALTER TABLE c DROP COLUMN y", {"c"}),
    ("CREATE VIEW v AS SELECT id FROM c", {"v"}),
    ("DROP TABLE c", {"c"}),
]


def test_refreshed_groups_match_a_full_read() -> None:
    conn = sqlite3.connect(":memory:")
    rows = SchemaRows(conn)
    for sql, names in STEPS:
        conn.executescript(sql)
        rows.refresh(names)
        assert rows.shapes(None, {}) == read_shapes(conn, None, {}), sql
        assert rows.shapes(names, {}) == read_shapes(conn, names, {}), sql


def test_a_full_refresh_after_a_rename() -> None:
    conn = sqlite3.connect(":memory:")
    rows = SchemaRows(conn)
    conn.executescript("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE INDEX p_i ON p (id)")
    rows.refresh({"p"})
    conn.execute("ALTER TABLE p RENAME TO q")
    rows.refresh(None)
    assert set(rows.shapes(None, {})) == {"q"}
    assert rows.shapes(None, {}) == read_shapes(conn, None, {})


# Each run is a series of migrations, each with the groups the schema watch would name; the
# rows SQLite gives a new object take max(rowid) + 1 of the rows present *then*, which can be
# below the highest rowid ever read once the top rows are gone.
RUNS = {
    # hostile 010: a drop of the newest table (and its index), then a table created in a
    # later migration takes one of their rowids
    "top rows dropped, created later": [
        (
            "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT); CREATE TABLE old_log (msg TEXT);"
            " CREATE INDEX old_log_msg ON old_log (msg)",
            {"a", "old_log"},
        ),
        ("DROP TABLE old_log", {"old_log"}),
        ("CREATE TABLE z (id INTEGER PRIMARY KEY, v TEXT, w TEXT)", {"z"}),
        ("ALTER TABLE z DROP COLUMN v", {"z"}),
    ],
    # hostile 001: the top rows are indexes of an older table
    "top indexes dropped": [
        ("CREATE TABLE a (x); CREATE INDEX ia ON a (x); CREATE INDEX ib ON a (x)", {"a"}),
        ("DROP INDEX ia; DROP INDEX ib", {"a"}),
        ("CREATE TABLE z (id INTEGER PRIMARY KEY, v TEXT)", {"z"}),
        ("DROP TABLE z", {"z"}),
    ],
    # a gap below the top (b's row), then the top dropped and a table created in the same
    # migration: it takes b's old rowid, which no group names any more
    "gap below the top": [
        ("CREATE TABLE a (x); CREATE TABLE b (y); CREATE TABLE c (z)", {"a", "b", "c"}),
        ("DROP TABLE b", {"b"}),
        ("DROP TABLE c; CREATE TABLE d (w)", {"c", "d"}),
        ("ALTER TABLE d ADD COLUMN v TEXT", {"d"}),
    ],
    # files that only add run unwatched: the catch-up before the next watched file names no
    # group (set()), only the tables their ADD COLUMNs altered
    "created by an unwatched file": [
        ("CREATE TABLE a (x); CREATE TABLE t (y); CREATE INDEX t_y ON t (y)", {"a", "t"}),
        ("DROP TABLE t", {"t"}),
        ("CREATE TABLE n (id INTEGER PRIMARY KEY, v TEXT)", set()),
        ("ALTER TABLE n DROP COLUMN v", {"n"}),
    ],
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_a_row_created_below_the_highest_rowid_ever_read_is_read(run: str) -> None:
    conn = sqlite3.connect(":memory:")
    rows = SchemaRows(conn)
    for sql, names in RUNS[run]:
        conn.executescript(sql)
        rows.refresh(names)
        assert rows.shapes(None, {}) == read_shapes(conn, None, {}), sql


def test_after_a_vacuum_renumbered_the_rows_the_next_refresh_reads_them_all() -> None:
    conn = sqlite3.connect(":memory:")
    rows = SchemaRows(conn)
    # VACUUM writes tables first, then indexes, then views and triggers: a=1, v=2, b=3
    # become a=1, b=2, v=3, and b's known rowid now holds v's row
    conn.executescript("CREATE TABLE a (x); CREATE VIEW v AS SELECT 1; CREATE TABLE b (id, x, y)")
    rows.refresh({"a", "v", "b"})
    conn.execute("VACUUM")
    rows.renumbered()
    conn.execute("ALTER TABLE b DROP COLUMN y")
    rows.refresh({"b"})
    assert rows.shapes(None, {}) == read_shapes(conn, None, {})
