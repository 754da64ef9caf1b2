"""Tracker.columns_written: which values of existing rows a step may have written, as SQLite's
authorizer reports them, on a real database: triggers, foreign-key actions (ON UPDATE CASCADE,
ON DELETE SET NULL, ON DELETE CASCADE), REPLACE, upserts, indexes, rebuilds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.db import runner
from ci.db.fingerprint import Tracker

SCHEMA = (
    "PRAGMA foreign_keys = ON",
    "CREATE TABLE parents (id INTEGER PRIMARY KEY, code TEXT UNIQUE, label TEXT)",
    "CREATE TABLE children (id INTEGER PRIMARY KEY, "
    "parent_code TEXT REFERENCES parents (code) ON UPDATE CASCADE ON DELETE CASCADE, note TEXT)",
    "CREATE TABLE pets (id INTEGER PRIMARY KEY, "
    "parent_id INTEGER REFERENCES parents (id) ON DELETE SET NULL, name TEXT)",
    "CREATE TABLE audit (parent_id INTEGER, label TEXT)",
    "CREATE TRIGGER parents_label AFTER UPDATE OF label ON parents BEGIN "
    "INSERT INTO audit VALUES (new.id, new.label); "
    "UPDATE children SET note = new.label WHERE parent_code = new.code; END",
    "INSERT INTO parents VALUES (1, 'a', 'A'), (2, 'b', 'B')",
    "INSERT INTO children VALUES (1, 'a', ''), (2, 'b', '')",
    "INSERT INTO pets VALUES (1, 1, 'Rex'), (2, 2, 'Tom')",
)


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[Tracker]:
    conn = runner.connect(tmp_path / "t.db", durable=False)
    for statement in SCHEMA:
        conn.execute(statement)
    yield Tracker(conn, content=False)
    conn.close()


def written(tracker: Tracker, *statements: str) -> dict[str, frozenset[str] | None]:
    with tracker.watch():
        for statement in statements:
            tracker.conn.execute(statement)
    return dict(tracker.columns_written)


def test_an_update_names_its_columns_and_a_cascade_the_child_column(tracker: Tracker) -> None:
    got = written(tracker, "UPDATE parents SET code = 'z' WHERE id = 1")
    assert got == {"parents": frozenset({"code"}), "children": frozenset({"parent_code"})}
    assert tracker.conn.execute("SELECT parent_code FROM children WHERE id = 1").fetchone() == (
        "z",
    )


def test_a_trigger_writes_are_reported_with_the_statement(tracker: Tracker) -> None:
    got = written(tracker, "UPDATE parents SET label = 'AA' WHERE id = 1")
    assert got == {
        "parents": frozenset({"label"}),
        "audit": None,  # rows inserted
        "children": frozenset({"note"}),
    }


def test_a_delete_cascades_and_sets_null(tracker: Tracker) -> None:
    got = written(tracker, "DELETE FROM parents WHERE id = 2")
    assert got == {"parents": None, "children": None, "pets": frozenset({"parent_id"})}


def test_replace_and_upsert_write_whole_rows(tracker: Tracker) -> None:
    assert written(tracker, "INSERT OR REPLACE INTO parents VALUES (1, 'q', 'Q')") == {
        "parents": None,
        "children": None,  # the replaced row's ON DELETE CASCADE
        "pets": frozenset({"parent_id"}),
    }
    upsert = "INSERT INTO parents VALUES (2, 'b', 'X') ON CONFLICT (id) DO UPDATE SET label = 'X'"
    got = written(tracker, upsert)
    assert got["parents"] is None and got["children"] == frozenset({"note"})


def test_an_index_writes_no_rows_and_a_rebuild_writes_all(tracker: Tracker) -> None:
    assert written(tracker, "CREATE INDEX pets_name ON pets (name)") == {"pets": frozenset()}
    rebuild = (
        "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, parent_id INTEGER, name TEXT)",
        "INSERT INTO pets_new SELECT * FROM pets",
        "DROP TABLE pets",
        "ALTER TABLE pets_new RENAME TO pets",
    )
    got = written(tracker, *rebuild)
    assert got["pets"] is None  # dropped and renamed onto: compared on every column
