"""The statement gatekeeper on statements that look harmless: a transaction named by a lost `;`,
a connection setting leaking into the next migration, a read of schema_version's columns in a
check.

Real SQLite files and real `python -m ci.*` processes; no mocks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS, WriteTree, run_on_tree

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER);\nINSERT INTO t VALUES (1, 0);\n"


def _names(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'schema_version%' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    return [str(name) for (name,) in rows]


# --- a transaction statement whose name is the next statement's keyword -----------------------

LOST_SEMICOLONS = {
    "begin transaction analyze": ("CREATE INDEX tx ON t(x);\nBEGIN TRANSACTION\nANALYZE;\n", 2),
    "commit transaction reindex": ("CREATE INDEX tx ON t(x);\ncommit transaction\nReindex;\n", 2),
    "end transaction analyze": ("CREATE INDEX tx ON t(x);\nEND /* c */ TRANSACTION\nANALYZE;\n", 2),
    "rollback transaction vacuum": ("CREATE INDEX tx ON t(x);\nROLLBACK TRANSACTION\nVACUUM;\n", 2),
    "no-transaction begin vacuum": (
        "-- @no-transaction\nCREATE INDEX tx ON t(x);\nBEGIN TRANSACTION\nVACUUM;\n",
        3,
    ),
}


@pytest.mark.parametrize("sql, line", LOST_SEMICOLONS.values(), ids=LOST_SEMICOLONS.keys())
def test_a_transaction_named_like_a_statement_fails_the_migration(
    write_tree: WriteTree, tmp_path: Path, sql: str, line: int
) -> None:
    root = write_tree(
        {f"{MIGRATIONS}/schema/0001_t.sql": TABLE, f"{MIGRATIONS}/schema/0002_tx.sql": sql}
    )
    db = tmp_path / "db"
    done = run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    output = done.stdout + done.stderr
    assert f"0002_tx.sql:{line}" in output and "a `;` is probably missing" in output, output
    if "no-transaction" not in sql:
        assert _names(db) == ["t"]  # the index of the failed migration is rolled back
    lint = run_on_tree("ci.lint", root, "--no-sqlfluff")
    assert "MG508" in lint.stdout and "probably missing" in lint.stdout, lint.stdout


def test_a_rollback_file_with_a_transaction_named_reindex_fails(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        {
            f"{MIGRATIONS}/schema/0001_t.sql": TABLE,
            f"{MIGRATIONS}/data/0002_x.sql": "UPDATE t SET x = 5;\n",
            f"{MIGRATIONS}/rollback/0001_rollback.sql": "DROP TABLE t;\n",
            f"{MIGRATIONS}/rollback/0002_rollback.sql": "BEGIN TRANSACTION\nREINDEX;\n"
            "UPDATE t SET x = 0;\n",
        }
    )
    db = tmp_path / "db"
    assert run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup").returncode == 0
    done = run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup", "--rollback", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_rollback.sql:1" in done.stdout + done.stderr


def test_a_quoted_or_ordinary_transaction_name_is_still_ignored(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        {
            f"{MIGRATIONS}/schema/0001_t.sql": TABLE,
            f"{MIGRATIONS}/data/0002_x.sql": 'BEGIN TRANSACTION "analyze";\nUPDATE t SET x = 5;\n'
            "COMMIT TRANSACTION tx;\n",
        }
    )
    done = run_on_tree("ci.migrate", root, "--db", str(tmp_path / "db"), "--no-backup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ignored" in done.stdout + done.stderr


# --- connection settings do not outlive the migration that set them --------------------------

MANY_ROWS = (
    "WITH RECURSIVE c(n) AS (SELECT 11 UNION ALL SELECT n + 1 FROM c WHERE n < 3000) "
    "INSERT INTO t SELECT n, n FROM c;\n"
)


def test_max_page_count_does_not_carry_into_the_next_migration(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        {
            f"{MIGRATIONS}/schema/0001_t.sql": TABLE,
            f"{MIGRATIONS}/data/0002_limit.sql": "PRAGMA max_page_count = 3;\n",
            f"{MIGRATIONS}/data/0003_rows.sql": MANY_ROWS,
        }
    )
    db = tmp_path / "db"
    done = run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup")
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2991,)


def test_every_per_connection_setting_is_restored_or_refused() -> None:
    """The lists are data: a per-connection setting SQLite documents is set back after the
    migration, refused, or left as set with the reason written down."""
    from ci.db.gatekeeper import REFUSED_PRAGMAS, RESTORED_PRAGMAS, UNRESTORED_PRAGMAS

    per_connection = {
        "max_page_count", "cache_size", "mmap_size", "busy_timeout", "soft_heap_limit",
        "hard_heap_limit", "threads", "temp_store", "analysis_limit", "automatic_index",
        "cell_size_check", "cache_spill", "query_only", "recursive_triggers", "read_uncommitted",
    }  # fmt: skip
    handled = set(RESTORED_PRAGMAS) | set(REFUSED_PRAGMAS) | set(UNRESTORED_PRAGMAS)
    assert per_connection - handled == set()


# --- reads are reads -----------------------------------------------------------------------


def test_a_check_runs_a_read_of_schema_version_columns(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            f"{MIGRATIONS}/schema/0001_t.sql": TABLE,
            f"{MIGRATIONS}/data/0002_read.sql": "SELECT * FROM "
            "pragma_table_info('schema_version');\n"
            "SELECT name FROM pragma_table_list WHERE name = 'schema_version';\n",
        }
    )
    done = run_on_tree("ci.apply_empty", root)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hard_heap_limit_is_refused(write_tree: WriteTree, tmp_path: Path) -> None:
    """It can only be lowered, never set back: refused, naming the file and line."""
    root = write_tree(
        {
            f"{MIGRATIONS}/schema/0001_t.sql": TABLE,
            f"{MIGRATIONS}/data/0002_heap.sql": "UPDATE t SET x = 1;\n"
            "PRAGMA hard_heap_limit = 100000;\n",
        }
    )
    done = run_on_tree("ci.migrate", root, "--db", str(tmp_path / "db"), "--no-backup")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_heap.sql:2" in done.stdout + done.stderr and "hard_heap_limit" in done.stdout


def test_a_check_still_refuses_a_real_write_of_the_schema_table(write_tree: WriteTree) -> None:
    """With writable_schema turned on behind the gate's back (a --setup), a statement that
    really writes sqlite_master is still a finding."""
    root = write_tree(
        {
            "schema_setup.py": "import sqlite3\n\ndef setup(conn):\n"
            "    sqlite3.Connection.execute(conn, 'PRAGMA writable_schema = ON')\n",
            f"{MIGRATIONS}/schema/0001_t.sql": TABLE,
            f"{MIGRATIONS}/data/0002_edit.sql": "SELECT * FROM pragma_table_info('t');\n"
            "UPDATE sqlite_master SET sql = sql || ' ' WHERE name = 't';\n",
        }
    )
    done = run_on_tree("ci.apply_empty", root, "--setup", "schema_setup:setup")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_edit.sql:2" in done.stdout and "writing sqlite_master" in done.stdout, done.stdout
