"""ci.db.value_diff: row images and their differences, column by column."""

from __future__ import annotations

import sqlite3

from ci.db.fingerprint import fingerprint
from ci.db.value_diff import Images, Long, cell, diff, shown


def test_a_long_value_is_kept_short_but_still_compared() -> None:
    long = "x" * 100
    kept = cell(long)
    assert isinstance(kept, Long)
    assert kept == cell("x" * 100) != cell("x" * 99 + "y")
    assert shown(kept) == "'" + "x" * 40 + "...' (100 chars)"
    assert shown(cell(b"\x00\xff")) == "x'00ff'"
    assert shown(None) == "NULL"


def test_images_follow_the_tables_a_step_changed() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID")
    conn.execute("CREATE TABLE n (v)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "x"), (2, "y")])
    conn.executemany("INSERT INTO n VALUES (?)", [(1,), (2,), (3,)])
    images = Images(conn, fingerprint(conn))
    before = images.snapshot()
    conn.execute("DELETE FROM t WHERE a = 2")
    conn.execute("UPDATE n SET v = NULL WHERE rowid = 2")
    images.refresh(fingerprint(conn), ["t", "n"])
    after = images.snapshot()
    lost = diff(before["t"], after["t"])
    assert (lost.lost, lost.lost_examples) == (1, [(2, "y")])
    nulled = diff(before["n"], after["n"])
    assert nulled.columns["v"].nulled == 1
    assert nulled.columns["v"].nulled_examples == [(2,)]
    assert before["n"].rows[(2,)] == (2,)  # a snapshot is not changed by later steps
