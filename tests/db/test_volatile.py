"""ci.db.volatile: which columns a migration fills with the time now or a random value."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ci.core.model import SqlFile
from ci.db.fingerprint import fingerprint
from ci.db.volatile import set_by, split_top, volatile_columns

COLUMNS = ["id", "name", "created_at", "token"]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("INSERT INTO t (name, created_at) VALUES ('a', datetime('now')), ('b', 'c')",
         ["created_at"]),
        ("INSERT INTO t VALUES (1, 'a', 'x', hex(randomblob(4)))", ["token"]),
        ("INSERT INTO t (id, token) SELECT id, random() FROM s", ["token"]),
        ("INSERT OR REPLACE INTO main.\"t\" (id, created_at) VALUES (1, julianday('now'))",
         ["created_at"]),
        ("REPLACE INTO t (id, created_at) VALUES (1, unixepoch())", ["created_at"]),
        ("UPDATE t SET name = 'x', token = abs(random()) % 10 WHERE id = 1", ["token"]),
        ("UPDATE t SET created_at = CURRENT_TIMESTAMP", ["created_at"]),
        ("UPDATE t SET name = 'now''s' WHERE created_at < date('now')", []),
        ("INSERT INTO t (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET "
         "created_at = CURRENT_TIME WHERE 1", ["created_at"]),
        # random() decides which rows, not what a column holds
        ("INSERT INTO t SELECT * FROM s WHERE random() > 0", []),
        ("INSERT INTO t VALUES (1, random())", COLUMNS),  # not matched: all
        # hostile pass bug 03: the word in a text, a name or a condition is no volatile value
        ("UPDATE t SET name = coalesce(name, 'Random Patient')", []),
        ("UPDATE t SET name = CASE WHEN random() IS NOT NULL THEN NULL END", []),
        ("UPDATE t SET name = iif(random() > 0, 'a', 'b'), token = \"random\"", []),
        ("UPDATE t SET name = 'now', token = current_timestamp_copy", []),
        ("INSERT INTO t (name, token) VALUES ('CURRENT_TIMESTAMP', 'random()')", []),
        ("UPDATE t SET created_at = coalesce(created_at, datetime('now', 'localtime'))",
         ["created_at"]),
        ("INSERT INTO other VALUES (random())", []),
        ("UPDATE t SET name = upper(name)", []),
    ],
)  # fmt: skip
def test_the_columns_a_statement_sets_with_time_or_random(
    statement: str, expected: list[str]
) -> None:
    assert set_by(statement, "t", COLUMNS) == expected


def test_split_top_keeps_brackets_and_quotes_whole() -> None:
    assert split_top("a, f(b, c), 'x,y', \"q,r\"") == ["a", "f(b, c)", "'x,y'", '"q,r"']
    assert split_top("") == []


@pytest.mark.parametrize(
    "default",
    ["CURRENT_TIMESTAMP", "CURRENT_DATE", "(datetime('now'))", "(strftime('%s', 'now'))",
     "(random())", "(randomblob(8))", "(julianday())"],
)  # fmt: skip
def test_a_default_that_calls_time_or_random_is_volatile(default: str, tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT DEFAULT {default}, k TEXT)")
    conn.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, at TEXT DEFAULT 'now-ish')")
    printed = fingerprint(conn)
    migration = tmp_path / "0002_fill.sql"
    migration.write_text("INSERT INTO t (k) VALUES ('a');\nUPDATE t SET k = random();\n")
    found = volatile_columns(printed.groups["t"], [SqlFile(migration)])
    shown = default[1:-1] if default.startswith("(") else default  # as SQLite keeps it
    assert found == {
        "at": f"its default {shown} differs from run to run",
        "k": "0002_fill.sql:2 sets it with random()",
    }
    assert volatile_columns(printed.groups["u"], [SqlFile(migration)]) == {}
