"""The gatekeeper's verdicts stand on what SQLite prepares (a statement whose `;` is lost is no
BEGIN), the runner's own tables are the runner's, and a migration's connection settings do not
leak into the next migration (issue 13, hostile pass: items 1, 3, 4, 6, 9, 10).

Real SQLite files, real `python -m ci.*` processes and real Runner calls; no mocks.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from ci.db.runner import MigrationFailed
from tests.conftest import (
    MIGRATIONS,
    WriteTree,
    dump,
    make_runner,
    query,
    run_on_tree,
    tree,
    versions,
)

ACCT = "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);\nINSERT INTO acct VALUES (1, 0);\n"
LATER = "UPDATE acct SET bal = bal + 100;\n"


def _migrate(root: Path, db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_on_tree("ci.migrate", root, "--db", str(db), "--no-backup", *extra)


def _repo(write_tree: WriteTree, under_test: str) -> Path:
    return write_tree(
        tree(
            {
                "schema/0001_acct.sql": ACCT,
                "schema/0002_under_test.sql": under_test,
                "data/0003_later.sql": LATER,
            }
        )
    )


def _first_applied(root: Path, db: Path) -> str:
    done = _migrate(root, db, "--target", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    return dump(db)


# --- item 1: a statement that does not prepare is never ignored ------------------------------

LOST_SEMICOLON = {
    "begin": "BEGIN TRANSACTION\nCREATE TABLE patients (id INTEGER PRIMARY KEY);\n",
    "commit": "COMMIT\nCREATE TABLE important (id INTEGER);\n",
    "end": "END\nCREATE TABLE important (id INTEGER);\n",
    "rollback garbage": "ROLLBACK garbage DROP TABLE acct;\n",
    "leading foreign_keys": "PRAGMA foreign_keys = OFF\nCREATE TABLE a (x);\n",
    "savepoint": "SAVEPOINT s\nCREATE TABLE b (x);\n",
}


@pytest.mark.parametrize("sql", LOST_SEMICOLON.values(), ids=list(LOST_SEMICOLON))
def test_lost_semicolon_fails_with_sqlites_syntax_error_in_run_dry_run_and_checks(
    sql: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    root = _repo(write_tree, sql)
    db = tmp_path / "app.db"
    before = _first_applied(root, db)
    for extra in (("--dry-run",), ()):
        done = _migrate(root, db, *extra)
        out = done.stdout + done.stderr
        assert done.returncode == 1, out
        assert "0002_under_test.sql:1" in out and "syntax error" in out, out
        assert "Traceback" not in out
        assert dump(db) == before
    checked = run_on_tree("ci.apply_empty", root)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "0002_under_test.sql:1" in checked.stdout and "syntax error" in checked.stdout


def test_lost_semicolon_in_a_rollback_file_fails_and_keeps_the_row(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_acct.sql": ACCT,
                "data/0002_pay.sql": "UPDATE acct SET bal = 5;\n",
                "rollback/0002_pay.sql": "BEGIN\nUPDATE acct SET bal = 0;\n",
            }
        )
    )
    db = tmp_path / "app.db"
    assert _migrate(root, db).returncode == 0
    done = _migrate(root, db, "--rollback", "2")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "rollback/0002_pay.sql:1" in out and "syntax error" in out, out
    assert versions(db) == [("schema", 1), ("data", 2)]
    assert query(db, "SELECT bal FROM acct") == [(5,)]


def test_lint_reports_the_lost_statement_as_the_syntax_error_it_is(
    write_tree: WriteTree,
) -> None:
    root = write_tree(tree({"schema/0001_acct.sql": LOST_SEMICOLON["begin"]}))
    done = run_on_tree("ci.lint", root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0001_acct.sql:1" in done.stdout
    assert 'near "CREATE": syntax error' in done.stdout, done.stdout


# --- items 3, 4, 9, 10: the runner's own tables ----------------------------------------------

TAMPERING = {
    "update version": "UPDATE schema_version SET version = 3 WHERE version = 1;",
    "update type": "UPDATE schema_version SET migration_type = 'seed';",
    "delete": "DELETE FROM schema_version WHERE version = 1;",
    "with update": "WITH x AS (SELECT 3 AS v) UPDATE schema_version SET version = "
    "(SELECT v FROM x);",
    "drop log": "DROP TABLE schema_version_log;",
    "alter": "ALTER TABLE schema_version RENAME TO sv_old;",
    "add column": "ALTER TABLE schema_version_log ADD COLUMN note TEXT;",
    "index": "CREATE INDEX sv_desc ON schema_version (description);",
    "drop identity index": "DROP INDEX schema_version_identity;",
    "temp table shadow": "CREATE TEMP TABLE schema_version (version INTEGER, migration_type TEXT,"
    " description TEXT, file_hash TEXT, applied_at TEXT, execution_time_ms INTEGER,"
    " rows_affected INTEGER, applied_by TEXT, code_hash TEXT);",
    "temp view shadow": "CREATE TEMP VIEW schema_version AS SELECT 1 AS version;",
    "log insert": "INSERT INTO schema_version_log (logged_at, action, version) "
    "VALUES ('x', 'y', 1);",
    "log trigger": "CREATE TRIGGER wipe AFTER INSERT ON schema_version_log BEGIN DELETE FROM acct;"
    " END;",
    "temp trigger": "CREATE TEMP TRIGGER t2 AFTER INSERT ON main.schema_version BEGIN"
    " SELECT 1; END;",
    "no-transaction clears its mark": "-- @no-transaction\n"
    "UPDATE schema_version_log SET cleared_at = 'now' WHERE cleared_at IS NULL;",
    "trigger on a user table": "CREATE TRIGGER tg AFTER UPDATE ON acct BEGIN INSERT INTO"
    " schema_version (version, migration_type, description) VALUES (3, 'data', 'fake'); END;"
    "\nUPDATE acct SET bal = bal;",
}


@pytest.mark.parametrize("sql", TAMPERING.values(), ids=list(TAMPERING))
def test_a_migration_cannot_change_the_runners_tables(
    sql: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    root = _repo(write_tree, sql + "\n")
    db = tmp_path / "app.db"
    _first_applied(root, db)
    for _ in range(2):  # the second run sees the same: nothing was recorded or skipped
        done = _migrate(root, db)
        out = done.stdout + done.stderr
        assert done.returncode == 1, out
        assert "migrations must not change the runner's bookkeeping table schema_version" in out
        assert "0002_under_test.sql:" in out and "skipped" not in out
        assert versions(db) == [("schema", 1)]
        assert query(db, "SELECT bal FROM acct") == [(0,)]
    assert query(db, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%fake%'") == [(0,)]
    checked = run_on_tree("ci.apply_empty", root)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "bookkeeping table schema_version" in checked.stdout


@pytest.mark.parametrize("no_transaction", [False, True], ids=["transaction", "no-transaction"])
def test_a_trigger_on_a_user_table_that_writes_the_runners_table_is_refused_when_created(
    no_transaction: bool, write_tree: WriteTree, tmp_path: Path
) -> None:
    directive = "-- @no-transaction\n" if no_transaction else ""
    root = _repo(
        write_tree,
        f"{directive}CREATE TRIGGER tg AFTER UPDATE OF bal ON acct WHEN new.bal > 1000 BEGIN "
        "DELETE FROM schema_version WHERE version = 1; END;\n",
    )
    db = tmp_path / "app.db"
    _first_applied(root, db)
    done = _migrate(root, db)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "0002_under_test.sql:" in out and "trigger tg" in out, out
    assert "bookkeeping table schema_version" in out
    assert query(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'") == [(0,)]
    assert versions(db) == [("schema", 1)]


def test_a_trigger_left_by_another_tool_cannot_write_the_runners_table(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """Refused when it fires: any statement whose program writes the runner's tables."""
    root = _repo(write_tree, "SELECT 1;\n")
    db = tmp_path / "app.db"
    _first_applied(root, db)
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TRIGGER tg AFTER UPDATE ON acct BEGIN INSERT INTO schema_version "
        "(version, migration_type, description) VALUES (3, 'data', 'fake'); END"
    )
    conn.commit()
    conn.close()
    done = _migrate(root, db)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "0003_later.sql:1" in out and "trigger tg, which this statement fires" in out, out
    assert versions(db) == [("schema", 1), ("schema", 2)]
    assert query(db, "SELECT bal FROM acct") == [(0,)]


def test_plain_insert_into_schema_version_is_still_ignored_with_a_notice(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = _repo(
        write_tree,
        "INSERT INTO schema_version (version, migration_type, description) "
        "VALUES (2, 'schema', 'mine');\n",
    )
    db = tmp_path / "app.db"
    done = _migrate(root, db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INSERT INTO schema_version ignored" in done.stdout + done.stderr
    assert versions(db) == [("schema", 1), ("schema", 2), ("data", 3)]


def test_a_rollback_file_deleting_its_own_row_is_ignored_with_a_notice(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """The mirror of the tolerated INSERT: hand-written rollbacks often end by deleting their
    migration's row; the runner removes it itself, and a migration file may still not."""
    root = _repo(write_tree, "CREATE TABLE extra (id INTEGER);\n")
    (root / MIGRATIONS / "rollback").mkdir(exist_ok=True)
    (root / MIGRATIONS / "rollback" / "0003_rollback.sql").write_text(
        "UPDATE acct SET bal = bal - 100;\nDELETE FROM schema_version WHERE version = 3;\n"
    )
    db = tmp_path / "app.db"
    assert _migrate(root, db).returncode == 0
    done = _migrate(root, db, "--rollback", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DELETE FROM schema_version ignored" in done.stdout + done.stderr
    assert versions(db) == [("schema", 1), ("schema", 2)]
    assert query(db, "SELECT bal FROM acct") == [(0,)]


def test_runner_records_in_main_even_when_setup_made_a_temp_shadow(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """The runner's own SQL names main.schema_version: a temporary table cannot take its rows."""
    root = _repo(write_tree, "SELECT 1;\n")
    (root / "shadow_setup.py").write_text(
        "def setup(conn):\n"
        "    conn.execute('CREATE TEMP TABLE schema_version (version INTEGER, migration_type "
        "TEXT, description TEXT, file_hash TEXT, applied_at TEXT, execution_time_ms INTEGER, "
        "rows_affected INTEGER, applied_by TEXT, code_hash TEXT)')\n"
        "    conn.execute('CREATE TEMP TABLE schema_version_log (id INTEGER)')\n"
    )
    db = tmp_path / "app.db"
    for _ in range(2):
        done = _migrate(root, db, "--setup", "shadow_setup:setup")
        assert done.returncode == 0, done.stdout + done.stderr
    assert versions(db) == [("schema", 1), ("schema", 2), ("data", 3)]
    assert query(db, "SELECT bal FROM acct") == [(100,)]


# --- item 6: connection settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    "pragma", ["PRAGMA ignore_check_constraints = ON;", "pragma writable_schema = 1;"]
)
def test_pragmas_that_weaken_the_database_are_refused(
    pragma: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_c.sql": "CREATE TABLE c (x INTEGER CHECK (x > 0));\n",
                "schema/0002_setting.sql": f"{pragma}\n",
                "data/0003_bad.sql": "INSERT INTO c VALUES (-5);\n",
            }
        )
    )
    db = tmp_path / "app.db"
    done = _migrate(root, db)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "0002_setting.sql:1" in out and "is refused" in out, out
    assert query(db, "SELECT count(*) FROM c") == [(0,)]
    assert versions(db) == [("schema", 1)]
    assert run_on_tree("ci.apply_empty", root).returncode == 1


def test_a_migrations_connection_settings_do_not_leak_into_the_next(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_set.sql": "PRAGMA case_sensitive_like = ON;\n"
                "PRAGMA recursive_triggers = ON;\nCREATE TABLE t (x);\n",
                "schema/0002_use.sql": "CREATE TABLE r AS SELECT 'a' LIKE 'A' AS folded;\n",
            }
        )
    )
    db = tmp_path / "app.db"
    run, _ = make_runner(root, db)
    run.migrate()
    recursive = run.conn.execute("PRAGMA recursive_triggers").fetchone()[0]
    run.conn.close()
    assert query(db, "SELECT folded FROM r") == [(1,)]
    assert recursive == 0


def test_settings_are_restored_after_a_failed_migration_too(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_fail.sql": "PRAGMA recursive_triggers = ON;\n"
                "PRAGMA query_only = 1;\nINSERT INTO nowhere VALUES (1);\n",
            }
        )
    )
    db = tmp_path / "app.db"
    run, _ = make_runner(root, db)
    with pytest.raises(MigrationFailed, match="nowhere"):
        run.migrate()
    settings = [
        run.conn.execute("PRAGMA recursive_triggers").fetchone()[0],
        run.conn.execute("PRAGMA query_only").fetchone()[0],
    ]
    run.conn.close()
    assert settings == [0, 0]
    assert query(db, "SELECT action FROM schema_version_log") == [("failed",)]
