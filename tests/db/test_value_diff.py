"""ci.db.value_diff: row images and their differences, column by column."""

from __future__ import annotations

import sqlite3

import pytest

from ci.db.fingerprint import fingerprint
from ci.db.value_diff import affinity, converted, diff, same
from ci.db.value_images import Images, Long, cell, shown


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
    assert dict(before["n"].items())[(2,)] == (2,)  # a snapshot is not changed by later steps


def test_a_long_value_read_from_sqlite_is_compared_by_hash() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, data BLOB)")
    conn.execute("INSERT INTO t VALUES (1, ?, ?), (2, 'short', NULL)", ("a" * 60, b"\x01" * 50))
    images = Images(conn, fingerprint(conn))
    before = images.snapshot()["t"]
    assert dict(before.items())[(1,)] == (1, cell("a" * 60), cell(b"\x01" * 50))
    conn.execute("UPDATE t SET body = substr(body, 1, 30) || 'b' || substr(body, 32) WHERE id = 1")
    images.refresh(fingerprint(conn), ["t"])
    change = diff(before, images.snapshot()["t"])
    assert change.columns["body"].changed == 1
    assert "data" not in change.columns
    (_, was, now) = change.columns["body"].examples[0]
    assert shown(was) == "'" + "a" * 40 + "...' (60 chars)"
    assert shown(now) == "'" + "a" * 30 + "b" + "a" * 9 + "...' (60 chars)"


def test_a_change_past_the_kept_prefix_is_still_seen() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (body TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", ("a" * 60,))
    images = Images(conn, fingerprint(conn))
    before = images.snapshot()["t"]
    conn.execute("UPDATE t SET body = substr(body, 1, 59) || 'b'")
    images.refresh(fingerprint(conn), ["t"])
    assert diff(before, images.snapshot()["t"]).columns["body"].changed == 1


def test_rows_are_matched_by_key_whatever_the_collation_and_types() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k PRIMARY KEY COLLATE NOCASE, v) WITHOUT ROWID")
    keys = ["B", "a", "C", 3, 2.5, b"\x00", "é"]
    conn.executemany("INSERT INTO t VALUES (?, 1)", [(k,) for k in keys])
    images = Images(conn, fingerprint(conn))
    before = images.snapshot()["t"]
    conn.execute("DELETE FROM t WHERE k = 'A'")  # NOCASE: the row 'a'
    conn.execute("UPDATE t SET v = 2 WHERE k IN (3, 'é')")
    conn.execute("INSERT INTO t VALUES ('z', 1)")
    images.refresh(fingerprint(conn), ["t"])
    change = diff(before, images.snapshot()["t"])
    assert (change.lost, change.lost_examples, change.added) == (1, [("a",)], 1)
    assert change.columns["v"].changed == 2
    assert [k for k, _, _ in change.columns["v"].examples] == [(3,), ("é",)]  # SQLite's order


@pytest.mark.parametrize(
    ("before", "after"),
    [("5", 5), (5, "5"), ("-12", -12), ("2.5", 2.5), ("5", 5.0), (5, 5.0),
     ("9007199254740993", 9007199254740993), (0.1, "0.1"), (1e20, "1.0e+20")],
)  # fmt: skip
def test_a_lossless_conversion_is_the_same_value_only_under_an_affinity_change(
    before: object, after: object
) -> None:
    assert converted(before, after)
    assert same(before, after) == (type(before) is not str and type(after) is not str)


@pytest.mark.parametrize(
    ("before", "after"),
    [("00123", 123), (" 042 ", 42), ("7.50", 7.5), ("+5", 5), ("1e3", 1000),
     ("12345678901234567890", 1.2345678901234567e19), ("9007199254740993", 9007199254740992.0),
     (0.30000000000000004, "0.3"), ("x", 0), (b"5", 5)],
)  # fmt: skip
def test_a_conversion_that_loses_digits_or_spelling_is_a_change(
    before: object, after: object
) -> None:
    """Hostile pass bug 04: float(text) == number is not enough ('00123' is an account code)."""
    assert not converted(before, after)
    assert not same(before, after)


def test_text_and_numbers_are_compared_by_affinity_change_read_from_the_database() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b TEXT)")
    conn.execute("INSERT INTO t VALUES (1, '007', '5'), (2, '8', '00123')")
    images = Images(conn, fingerprint(conn))
    before = images.snapshot()["t"]
    conn.executescript(
        "CREATE TABLE n (id INTEGER PRIMARY KEY, a, b INTEGER); INSERT INTO n SELECT * FROM t;"
        "UPDATE n SET a = a + 0; DROP TABLE t; ALTER TABLE n RENAME TO t;"
    )
    images.refresh(fingerprint(conn), ["t", "n"])
    change = diff(before, images.snapshot()["t"])
    assert affinity("VARCHAR(9)") == "TEXT" and affinity("") == "BLOB"
    assert change.columns["a"].examples == [((1,), "007", 7), ((2,), "8", 8)]  # a: no affinity
    assert change.columns["b"].examples == [((2,), "00123", 123)]  # '5' -> 5: converted
