"""Pragmas a real run refuses because they break the atomicity of the next migrations or other
connections' view of the schema: `journal_mode` OFF or MEMORY (no rollback journal on disk) and
`schema_version` (SQLite's schema cookie), in every spelling SQLite accepts.

Real SQLite files and real `python -m ci.migrate` processes; no mocks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS, WriteTree, run_on_tree

# enough rows that SQLite spills changed pages to the file before the commit
KEEP = (
    "CREATE TABLE keep (id INTEGER PRIMARY KEY, x TEXT);\n"
    "INSERT INTO keep (x) WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c "
    "WHERE k < 100000) SELECT hex(randomblob(40)) FROM c;\n"
)
# an innocent later migration that changes every row, then fails: it must be rolled back whole
INNOCENT = "UPDATE keep SET x = 'overwritten';\nDELETE FROM keep WHERE id % 2 = 0;\n" + (
    "INSERT INTO nowhere VALUES (1);\n"
)
NO_DISK_JOURNAL = {
    "plain": "PRAGMA journal_mode = OFF;",
    "schema-qualified": "PRAGMA main.journal_mode=off;",
    "quoted value": "PRAGMA journal_mode = 'Off';",
    "call form": 'pragma "journal_mode"(memory);',
    "memory": "PRAGMA journal_mode = MEMORY;",
}
GROUPED = {"one by one": [], "group": ["--group"]}


def _state(db: Path) -> tuple[object, ...]:
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("PRAGMA integrity_check").fetchone()[0],
            conn.execute("SELECT count(*) FROM keep WHERE x <> 'overwritten'").fetchone()[0],
            conn.execute("SELECT max(version) FROM schema_version").fetchone()[0],
        )


@pytest.mark.parametrize("group", GROUPED.values(), ids=GROUPED.keys())
@pytest.mark.parametrize("pragma", NO_DISK_JOURNAL.values(), ids=NO_DISK_JOURNAL.keys())
def test_no_rollback_journal_is_refused_and_later_failures_roll_back(
    write_tree: WriteTree, tmp_path: Path, pragma: str, group: list[str]
) -> None:
    """Let through, the mode stays for the rest of the run: the later failing migration is
    'rolled back' without a journal and the database is left malformed."""
    db = tmp_path / "db"
    files = {f"{MIGRATIONS}/schema/0001_keep.sql": KEEP}
    root = write_tree(files)
    assert run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup").returncode == 0
    files[f"{MIGRATIONS}/schema/0002_off.sql"] = f"{pragma}\nCREATE TABLE z (x);\n"
    files[f"{MIGRATIONS}/schema/0003_nt.sql"] = "-- @no-transaction\nCREATE TABLE z2 (x);\n"
    files[f"{MIGRATIONS}/data/0004_innocent.sql"] = INNOCENT
    root = write_tree(files)
    done = run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup", *group)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_off.sql:1" in done.stdout + done.stderr, done.stdout + done.stderr
    assert "journal_mode" in done.stdout + done.stderr
    assert _state(db) == ("ok", 100000, 1)


@pytest.mark.parametrize("mode", ["TRUNCATE", "PERSIST", "DELETE"])
def test_journal_modes_that_keep_a_journal_on_disk_pass(
    write_tree: WriteTree, tmp_path: Path, mode: str
) -> None:
    """They leak into the next migrations (SQLite ignores a change back after the first write),
    but every one still has its journal: the later failure is rolled back whole."""
    root = write_tree(
        {
            f"{MIGRATIONS}/schema/0001_keep.sql": KEEP,
            f"{MIGRATIONS}/schema/0002_mode.sql": f"PRAGMA journal_mode = {mode};\n"
            "CREATE TABLE z (x);\n",
            f"{MIGRATIONS}/data/0003_innocent.sql": INNOCENT,
        }
    )
    db = tmp_path / "db"
    done = run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0003_innocent.sql:3" in done.stdout + done.stderr, done.stdout + done.stderr
    assert _state(db) == ("ok", 100000, 2)


SCHEMA_COOKIE = {
    "set": "PRAGMA schema_version = 4;",
    "zero": "PRAGMA main.schema_version = 0;",
    "call form": "PRAGMA schema_version('7');",
}


@pytest.mark.parametrize("group", GROUPED.values(), ids=GROUPED.keys())
@pytest.mark.parametrize("pragma", SCHEMA_COOKIE.values(), ids=SCHEMA_COOKIE.keys())
def test_setting_the_schema_cookie_is_refused(
    write_tree: WriteTree, tmp_path: Path, pragma: str, group: list[str]
) -> None:
    """An application connection open during the deploy trusts the cookie to know its cached
    schema is stale; set back by hand, it writes into the table that took the old one's pages."""
    db = tmp_path / "db"
    files = {f"{MIGRATIONS}/schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"}
    root = write_tree(files)
    assert run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup").returncode == 0
    app = sqlite3.connect(db, isolation_level=None)
    try:
        app.execute("SELECT count(*) FROM t").fetchone()  # caches the schema
        files[f"{MIGRATIONS}/schema/0002_swap.sql"] = (
            "DROP TABLE t;\nCREATE TABLE u (id INTEGER PRIMARY KEY, precious TEXT);\n"
            "INSERT INTO u (precious) VALUES ('keep');\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n"
            f"{pragma}\n"
        )
        root = write_tree(files)
        done = run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup", *group)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "0002_swap.sql:5" in done.stdout + done.stderr, done.stdout + done.stderr
        assert "schema cookie" in done.stdout + done.stderr
        app.execute("INSERT INTO t DEFAULT VALUES")
    finally:
        app.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'u'").fetchall() == []


def test_reading_the_journal_mode_and_schema_cookie_passes(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        {f"{MIGRATIONS}/schema/0001_t.sql": "PRAGMA journal_mode;\nPRAGMA schema_version;\n"}
    )
    done = run_on_tree("ci.migrate", root, "--db", str(tmp_path / "db"), "--no-backup")
    assert done.returncode == 0, done.stdout + done.stderr
