"""Transaction control, schema_version writes and pragmas in migration files (issue 13, classes
1 and 7): SQLite's authorizer says what a statement is, whatever its spelling, and ci.db.gatekeeper
decides what the runner and the checks ignore, refuse or allow.

Real SQLite files and real `python -m ci.*` processes; no mocks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ci.core.model import discover
from ci.db import gatekeeper
from ci.db.runner import MigrationFailed, connect
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

BASE = {
    "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n"
    "INSERT INTO t VALUES (1, 'one');\n",
}

# (id, statements written between two INSERTs of the migration under test); each must leave the
# migration atomic: the runner owns the transaction
SPELLINGS = [
    ("commit transaction name", "COMMIT TRANSACTION tx;"),
    ("end lower case", "end;"),
    ("end transaction", "END TRANSACTION;"),
    ("comments between words", "/*x*/ COMMIT /*y*/ TRANSACTION;"),
    ("line comment between words", "COMMIT -- now\nTRANSACTION;"),
    ("mixed case commit", "CoMmIt;"),
    ("begin exclusive named", "COMMIT; BEGIN EXCLUSIVE TRANSACTION t;"),
    ("begin deferred", "COMMIT; begin deferred;"),
    ("begin immediate", "COMMIT; Begin /* now */ Immediate Transaction;"),
    ("rollback", "ROLLBACK;"),
    ("rollback transaction name", "ROLLBACK TRANSACTION tx;"),
    (
        "rollback to savepoint",
        "SAVEPOINT s; INSERT INTO t VALUES (9, 'x'); ROLLBACK TRANSACTION TO SAVEPOINT s;",
    ),
    ("release savepoint", "SAVEPOINT s; RELEASE SAVEPOINT s;"),
    ("savepoint lower case", "savepoint s; release s;"),
    ("savepoint quoted", 'SAVEPOINT "Outer"; RELEASE outer;'),
    ("explain commit", "EXPLAIN COMMIT;"),
]


def _repo(write_tree: WriteTree, body: str, last: str) -> Path:
    files = dict(BASE)
    files["data/0002_under_test.sql"] = (
        f"INSERT INTO t VALUES (2, 'two');\n{body}\nINSERT INTO t VALUES (3, 'three');\n{last}\n"
    )
    return write_tree(tree(files))


def _apply_first(root: Path, db: Path) -> None:
    run, _ = make_runner(root, db)
    run.apply(run.catalog.main[0])
    run.conn.close()


@pytest.mark.parametrize(("name", "body"), SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_transaction_spelling_then_failure_changes_nothing(
    name: str, body: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    root = _repo(write_tree, body, "INSERT INTO nowhere VALUES (1);")
    db = tmp_path / "app.db"
    _apply_first(root, db)
    before = dump(db)
    run, _ = make_runner(root, db)
    with pytest.raises(MigrationFailed, match="nowhere"):
        run.apply(run.catalog.main[1])
    run.conn.close()
    assert dump(db) == before
    assert versions(db) == [("schema", 1)]


@pytest.mark.parametrize(("name", "body"), SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_transaction_spelling_then_success_applies_once(
    name: str, body: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    root = _repo(write_tree, body, "UPDATE t SET v = 'done' WHERE id = 1;")
    db = tmp_path / "app.db"
    _apply_first(root, db)
    run, _ = make_runner(root, db)
    outcome = run.apply(run.catalog.main[1])
    run.conn.close()
    assert outcome.action == "applied"
    assert query(db, "SELECT id, v FROM t ORDER BY id") == [
        (1, "done"),
        (2, "two"),
        (3, "three"),
    ]
    assert versions(db) == [("schema", 1), ("data", 2)]


def test_commit_transaction_with_name_in_ci_migrate_keeps_database(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """The reported case, through the real command: exit 1 and the database as it was."""
    root = _repo(write_tree, "COMMIT TRANSACTION tx;", "INSERT INTO nowhere VALUES (1);")
    db = tmp_path / "app.db"
    _apply_first(root, db)
    before = dump(db)
    done = run_on_tree(
        "ci.migrate", root, "--db", str(db), "--no-backup", cwd=Path.cwd(), timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "0002_under_test.sql:4" in done.stdout + done.stderr
    assert dump(db) == before


@pytest.mark.parametrize(
    "name",
    ["RELEASE dry_run", "ROLLBACK TO dry_run", "RELEASE never_opened", "ROLLBACK TO x"],
)
def test_release_or_rollback_to_a_savepoint_the_file_did_not_open_is_refused(
    name: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    root = _repo(write_tree, f"{name};", "SELECT 1;")
    db = tmp_path / "app.db"
    _apply_first(root, db)
    before = dump(db)
    run, _ = make_runner(root, db)
    with pytest.raises(MigrationFailed, match="savepoint") as failure:
        run.apply(run.catalog.main[1])
    assert failure.value.line == 2
    run.conn.close()
    assert dump(db) == before


def test_dry_run_cannot_release_its_own_savepoint(write_tree: WriteTree, tmp_path: Path) -> None:
    root = _repo(write_tree, "RELEASE dry_run;", "SELECT 1;")
    db = tmp_path / "app.db"
    _apply_first(root, db)
    before = dump(db)
    run, _ = make_runner(root, db)
    _, failure = run.dry_run()
    run.conn.close()
    assert failure is not None and failure.line == 2
    assert dump(db) == before


def test_no_transaction_file_refuses_savepoints_before_running_anything(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    files = dict(BASE)
    files["data/0002_nt.sql"] = (
        "-- @no-transaction\nINSERT INTO t VALUES (2, 'two');\nsavepoint /* s */ s;\n"
        "INSERT INTO t VALUES (3, 'three');\nRELEASE s;\n"
    )
    root = write_tree(tree(files))
    db = tmp_path / "app.db"
    _apply_first(root, db)
    before = dump(db)
    run, _ = make_runner(root, db)
    with pytest.raises(MigrationFailed, match="@no-transaction") as failure:
        run.apply(run.catalog.main[1])
    assert failure.value.line == 3
    run.conn.close()
    assert dump(db) == before  # no statement ran, no dirty mark was left


def test_no_transaction_file_ignores_commit_and_keeps_the_dirty_mark_protocol(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    files = dict(BASE)
    files["data/0002_nt.sql"] = (
        "-- @no-transaction\nBEGIN;\nINSERT INTO t VALUES (2, 'two');\n"
        "COMMIT TRANSACTION tx;\nINSERT INTO t VALUES (3, 'three');\nEND;\n"
    )
    root = write_tree(tree(files))
    db = tmp_path / "app.db"
    _apply_first(root, db)
    run, out = make_runner(root, db)
    outcome = run.apply(run.catalog.main[1])
    assert run.dirty() == []
    run.conn.close()
    assert outcome.action == "applied"
    assert "0002_nt.sql:4: notice: COMMIT ignored" in out.getvalue()
    assert versions(db) == [("schema", 1), ("data", 2)]
    assert query(db, "SELECT count(*) FROM t") == [(3,)]


@pytest.mark.parametrize(
    "insert",
    [
        "INSERT INTO schema_version (version, migration_type, description) "
        "VALUES (2, 'data', 'x');",
        'insert /* own row */ into main . "SCHEMA_VERSION" (version, migration_type, '
        "description) VALUES (2, 'data', 'x');",
        "WITH r AS (SELECT 2 AS v) INSERT INTO schema_version (version, migration_type, "
        "description) SELECT v, 'data', 'x' FROM r;",
        "REPLACE INTO [schema_version] (version, migration_type, description) "
        "VALUES (2, 'data', 'x');",
    ],
)
def test_insert_into_schema_version_is_ignored_whatever_its_spelling(
    insert: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    root = _repo(write_tree, insert, "SELECT 1;")
    db = tmp_path / "app.db"
    _apply_first(root, db)
    run, out = make_runner(root, db)
    outcome = run.apply(run.catalog.main[1])
    run.conn.close()
    assert outcome.action == "applied"
    assert "INSERT INTO schema_version ignored" in out.getvalue()
    assert versions(db) == [("schema", 1), ("data", 2)]
    assert query(db, "SELECT description FROM schema_version WHERE version = 2") == [
        ("under_test",)
    ]


@pytest.mark.parametrize(
    "pragma",
    [
        "PRAGMA foreign_keys = OFF;",
        'PRAGMA "foreign_keys" = 0;',
        "/* rebuild */ pragma main.foreign_keys('false');",
        "PRAGMA foreign_keys = no;",
    ],
)
def test_leading_foreign_keys_off_is_honoured_whatever_its_spelling(
    pragma: str, write_tree: WriteTree, tmp_path: Path
) -> None:
    """The table-rebuild procedure: DROP TABLE parent fails with foreign keys ON."""
    files = {
        "schema/0001_parent.sql": "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id));\n"
        "INSERT INTO parent VALUES (1);\nINSERT INTO child VALUES (1, 1);\n",
        "schema/0002_rebuild.sql": f"{pragma}\n"
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\n"
        "INSERT INTO parent_new (id) SELECT id FROM parent;\nDROP TABLE parent;\n"
        "ALTER TABLE parent_new RENAME TO parent;\n",
    }
    root = write_tree(tree(files))
    db = tmp_path / "app.db"
    run, out = make_runner(root, db)
    outcomes = run.migrate()
    enforced = run.conn.execute("PRAGMA foreign_keys").fetchone()[0]
    run.conn.close()
    assert [o.action for o in outcomes] == ["applied", "applied"]
    assert enforced == 1  # restored afterwards
    assert "notice" not in out.getvalue()  # at the top it is honoured, not ignored


def test_classify_names_what_sqlite_says() -> None:
    assert gatekeeper.classify("/*a*/ end -- b") == (sqlite3.SQLITE_TRANSACTION, "COMMIT", None)
    assert gatekeeper.classify("ROLLBACK TRANSACTION TO SAVEPOINT s") == (
        sqlite3.SQLITE_SAVEPOINT,
        "ROLLBACK",
        "s",
    )
    assert gatekeeper.classify("PRAGMA \"foreign_keys\" = '0'") == (
        sqlite3.SQLITE_PRAGMA,
        "foreign_keys",
        "0",
    )
    assert gatekeeper.classify("CREATE TABLEE x") is None


# --- class 7: the checks -------------------------------------------------------------------


WRITABLE_SCHEMA_EDITS = {
    "rootpage": "UPDATE sqlite_master SET rootpage = 1 WHERE name = 't';",
    "column type": "UPDATE sqlite_master SET sql = replace(sql, 'INTEGER PRIMARY KEY', "
    "'TEXT PRIMARY KEY') WHERE name = 't';",
    "index rows": "DELETE FROM sqlite_master WHERE type = 'index' AND name = 't_v';",
}


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    db = tmp_path / "sample.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE unrelated (id INTEGER)")
    conn.commit()
    conn.close()
    return db


@pytest.mark.parametrize("edit", sorted(WRITABLE_SCHEMA_EDITS))
@pytest.mark.parametrize("check", ["apply_empty", "apply_sample", "rollback_roundtrip"])
def test_writable_schema_edit_is_a_finding_in_every_check(
    edit: str, check: str, write_tree: WriteTree, sample_db: Path
) -> None:
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n"
        "CREATE INDEX t_v ON t (v);\nINSERT INTO t VALUES (1, 'a');\n",
        "rollback/0001_rollback.sql": "DROP TABLE t;\n",
        "schema/0002_edit.sql": "SELECT 1;\nPRAGMA writable_schema = ON;\n"
        f"{WRITABLE_SCHEMA_EDITS[edit]}\nPRAGMA writable_schema = OFF;\n",
        "rollback/0002_rollback.sql": "SELECT 1;\n",
    }
    root = write_tree(tree(files))
    extra = ("--sample", str(sample_db)) if check == "apply_sample" else ()
    done = run_on_tree(f"ci.{check}", root, *extra)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "0002_edit.sql:2" in done.stdout
    assert "writable_schema" in done.stdout


def test_temp_store_directory_is_refused_and_nothing_is_written_there(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    files = {
        "schema/0001_t.sql": f"PRAGMA temp_store_directory = '{elsewhere}';\n"
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n",
    }
    root = write_tree(tree(files))
    done = run_on_tree("ci.apply_empty", root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0001_t.sql:1" in done.stdout
    assert "temp_store_directory" in done.stdout
    assert list(elsewhere.iterdir()) == []


DENIED_IN_CHECKS = [
    "PRAGMA journal_mode = WAL;",
    "PRAGMA locking_mode = NORMAL;",
    "PRAGMA synchronous = FULL;",
    "PRAGMA data_store_directory = '.';",
    "PRAGMA temp_store = FILE;",
    "PRAGMA mmap_size = 1000000;",
    "PRAGMA schema_version = 99;",
    "PRAGMA query_only = ON;",
    "PRAGMA main.cache_size = 5;",
    "pragma /* x */ Writable_Schema = 1;",
    "EXPLAIN PRAGMA writable_schema = 1;",
    "ATTACH DATABASE 'x.db' AS x;",
]


@pytest.mark.parametrize("pragma", DENIED_IN_CHECKS)
def test_pragmas_off_the_allow_list_are_refused_in_checks(
    pragma: str, write_tree: WriteTree
) -> None:
    files = {"schema/0001_t.sql": f"-- @no-transaction\nCREATE TABLE t (id INTEGER);\n{pragma}\n"}
    root = write_tree(tree(files))
    done = run_on_tree("ci.apply_empty", root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0001_t.sql:3" in done.stdout
    assert "not allowed in a check" in done.stdout


ALLOWED_IN_CHECKS = (
    "PRAGMA defer_foreign_keys = ON;\n"
    "PRAGMA legacy_alter_table = ON;\nPRAGMA legacy_alter_table = OFF;\n"
    "PRAGMA recursive_triggers = ON;\n"
    "PRAGMA case_sensitive_like = OFF;\n"
    "PRAGMA user_version = 7;\n"
    "PRAGMA application_id = 42;\n"
    "PRAGMA table_info(t);\nPRAGMA table_xinfo(t);\nPRAGMA index_list(t);\n"
    "PRAGMA index_info(t_v);\nPRAGMA index_xinfo(t_v);\nPRAGMA foreign_key_list(t);\n"
    "PRAGMA foreign_key_check;\nPRAGMA integrity_check;\nPRAGMA quick_check;\n"
    "PRAGMA journal_mode;\nPRAGMA optimize;\n"
)


def test_pragmas_real_migrations_use_pass_the_checks(write_tree: WriteTree) -> None:
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n"
        "CREATE INDEX t_v ON t (v);\n",
        "schema/0002_pragmas.sql": ALLOWED_IN_CHECKS,
    }
    root = write_tree(tree(files))
    done = run_on_tree("ci.apply_empty", root)
    assert done.returncode == 0, done.stdout + done.stderr


def test_setup_authorizer_does_not_replace_the_gatekeeper(write_tree: WriteTree) -> None:
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n"
        "PRAGMA writable_schema = ON;\n",
    }
    root = write_tree(tree(files))
    (root / "setup_mod.py").write_text(
        "import sqlite3\n\n\ndef setup(conn):\n"
        "    def allow(action, *args):\n"
        "        return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_DROP_TABLE "
        "else sqlite3.SQLITE_OK\n\n"
        "    conn.set_authorizer(allow)\n"
    )
    done = run_on_tree("ci.apply_empty", root, "--setup", "setup_mod:setup")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0001_t.sql:2" in done.stdout and "writable_schema" in done.stdout
    # ... and the user's authorizer still decides what our rules allow
    (root / MIGRATIONS / "schema" / "0001_t.sql").write_text(
        "CREATE TABLE t (id INTEGER PRIMARY KEY);\nDROP TABLE t;\n"
    )
    done = run_on_tree("ci.apply_empty", root, "--setup", "setup_mod:setup")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0001_t.sql:2" in done.stdout and "not authorized" in done.stdout


def test_validation_sees_what_a_fresh_connection_sees(
    tmp_path: Path, write_tree: WriteTree
) -> None:
    """A schema edited behind the connection's back (here by the test, as a --setup could):
    the checks after the last migration read it as a new connection does."""
    from ci.checks.validate import Options, new_runner, validate

    root = write_tree(tree({"schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"}))
    conn = connect(tmp_path / "check.db", durable=False)
    options = Options(None, None, None, False, 300.0)
    run = new_runner(conn, discover(root / MIGRATIONS), options)
    run.migrate()
    sqlite3.Connection.execute(conn, "PRAGMA writable_schema = ON")
    broken = "CREATE TABLE t (id INTEGER PRIMARY KEY, "  # a column type edited, badly
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 't'", (broken,))
    conn.execute("PRAGMA writable_schema = OFF")
    cases = validate("apply_empty", conn, run, options, [])
    conn.close()
    failed = [f.message for c in cases for f in c.findings]
    assert any("malformed database schema" in message for message in failed), failed


def test_invariant_pragma_off_the_allow_list_cannot_run_in_a_check(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = write_tree(tree({"schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"}))
    invariants = root / "invariants.sql"
    invariants.write_text(
        "-- invariant: keys hold\nPRAGMA foreign_key_check;\n\n"
        f"-- invariant: sneaky\nPRAGMA temp_store_directory = '{elsewhere}';\n"
    )
    done = run_on_tree("ci.apply_empty", root, "--invariants", str(invariants))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "invariants.sql:5" in done.stderr and "temp_store_directory" in done.stderr
