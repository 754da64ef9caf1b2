"""SchemaRows (ci.db.schema_shapes): a few groups read again by rowid give the same shapes as a
scan of the whole schema, through drops, rowids taken again, rebuilds and ALTERs."""

from __future__ import annotations

import sqlite3

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
