"""The bookkeeping tells the truth after every step (issue 13, classes 3, 4 and part of 10).

- A rollback that fails partway leaves the seeds it invalidated pending (also after kill -9).
- Upgrading an older `schema_version` keeps every column definition, index, trigger and view,
  or refuses before changing anything.
- Wrong values in the bookkeeping columns (a BLOB hash, a text or absurd version) are one line,
  never a traceback; absurd file numbers are refused.
- Read-only commands leave no `-wal`/`-shm` files beside a WAL database that had none.

Real SQLite files and real `python -m ci.*` processes (exit codes and tracebacks matter).
"""

from __future__ import annotations

import os
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS, dump, make_db, query, run_module, tree, versions

WriteTree = Callable[[dict[str, str | bytes]], Path]


def migrate(root: Path, db: Path, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    done = run_module(
        "ci.migrate", "--db", str(db), "--migrations-dir", str(root / MIGRATIONS), *args, cwd=cwd
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


# --- class 3: a rollback that fails partway ----------------------------------------------------

SEEDED = {
    "schema/0001_base.sql": "CREATE TABLE base (x);\n",
    "schema/0002_extra.sql": "CREATE TABLE extra (x);\n",
    "schema/0003_settings.sql": "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);\n",
    "seed/0001_defaults.sql": "INSERT OR IGNORE INTO settings VALUES ('theme', 'dark');\n",
    "rollback/0001_rollback.sql": "DROP TABLE base;\n",
    "rollback/0002_rollback.sql": "DROP TABLE extra;\nDROP TABLE no_such_table;\n",
    "rollback/0003_rollback.sql": "DROP TABLE settings;\n",
}


def test_rollback_failing_partway_leaves_the_seeds_pending_and_the_rerun_refills(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(SEEDED))
    db = tmp_path / "app.db"
    assert migrate(root, db)[0] == 0
    code, output = migrate(root, db, "--rollback", "2", "--no-backup")
    assert code == 1, output
    assert "0002_rollback.sql:2: no such table: no_such_table" in output
    # 0003 was rolled back (its table, with the seed's row, is gone), 0002 was not
    assert versions(db) == [("schema", 1), ("schema", 2)]
    assert "seeds seed-0001 will run again" in output
    code, output = migrate(root, db, "--no-backup")
    assert code == 0, output
    assert query(db, "SELECT key, value FROM settings") == [("theme", "dark")]


def test_a_rollback_step_that_fails_keeps_the_seeds_applied(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """The reset belongs to the step: a step that is undone does not reset the seeds."""
    root = write_tree(
        tree(SEEDED | {"rollback/0003_rollback.sql": "DROP TABLE settings;\nSELECT nope;\n"})
    )
    db = tmp_path / "app.db"
    assert migrate(root, db)[0] == 0
    before = dump(db)
    code, output = migrate(root, db, "--rollback", "3", "--no-backup")
    assert code == 1, output
    assert dump(db) == before
    assert ("seed", 1) in versions(db)


KILL_AFTER_FIRST_ROLLBACK = '''
    """--setup for the test: kill -9 this process right after the first rollback step commits
    (at the next statement the connection runs, i.e. before the second step or anything else)."""
    import os
    import signal

    def setup(conn):
        state = {"dropped": False, "committed": False}

        def trace(sql):
            if state["committed"]:
                os.kill(os.getpid(), signal.SIGKILL)
            if "DROP TABLE settings" in sql:
                state["dropped"] = True
            elif state["dropped"] and sql.strip().upper() == "COMMIT":
                state["committed"] = True

        conn.set_trace_callback(trace)
'''


def test_kill_9_right_after_a_rollback_step_leaves_the_seeds_pending(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(SEEDED))
    db = tmp_path / "app.db"
    assert migrate(root, db)[0] == 0
    (tmp_path / "killer.py").write_text(textwrap.dedent(KILL_AFTER_FIRST_ROLLBACK))
    done = run_module(
        "ci.migrate", "--db", str(db), "--migrations-dir", str(root / MIGRATIONS),
        "--rollback", "2", "--no-backup", "--setup", "killer:setup", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == -9, done.stdout + done.stderr
    assert versions(db) == [("schema", 1), ("schema", 2)]  # 0003 rolled back, seeds pending
    code, output = migrate(root, db, "--no-backup")
    assert code == 0, output
    assert query(db, "SELECT key, value FROM settings") == [("theme", "dark")]


# --- class 4: upgrading an older schema_version --------------------------------------------------

APP = {
    "schema/0001_patients.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);\n",
    "schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER PRIMARY KEY, hr INTEGER);\n",
    "data/0003_more.sql": "INSERT INTO patients (mrn) VALUES ('MRN-3');\n",
    "seed/0001_defaults.sql": "INSERT OR IGNORE INTO patients (id, mrn) VALUES (100, 'SEED');\n",
}
LEGACY = """
CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);
CREATE TABLE vitals (id INTEGER PRIMARY KEY, hr INTEGER);
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT DEFAULT CURRENT_TIMESTAMP,
    description TEXT COLLATE NOCASE,
    owner TEXT NOT NULL DEFAULT 'ops',
    ticket TEXT CHECK (ticket IS NULL OR ticket LIKE 'OPS-%'),
    checksum TEXT,
    CHECK (length(owner) > 0)
);
INSERT INTO schema_version (version, applied_at, description, owner, ticket)
    VALUES (1, '2025-12-01 10:00:00', 'patients', 'alice', 'OPS-1');
INSERT INTO schema_version (version, applied_at, description) VALUES (2, '2025-12-02', 'vitals');
CREATE INDEX schema_version_by_owner ON schema_version (owner, applied_at);
CREATE TABLE audit (at TEXT, what TEXT);
CREATE TRIGGER schema_version_audit AFTER INSERT ON schema_version
    BEGIN INSERT INTO audit VALUES (new.applied_at, 'applied ' || new.version); END;
CREATE VIEW latest AS SELECT max(version) AS version FROM schema_version;
CREATE TRIGGER vitals_audit AFTER INSERT ON vitals
    BEGIN INSERT INTO audit SELECT NULL, 'vital at ' || version FROM latest; END;
"""


def legacy_db(path: Path, script: str = LEGACY) -> Path:
    return make_db(path, script)


def schema_objects(db: Path) -> dict[str, str]:
    rows = query(db, "SELECT name, sql FROM sqlite_master WHERE type IN ('index','trigger','view')")
    return {str(name): str(sql) for name, sql in rows if sql is not None}


def column_definitions(db: Path) -> dict[str, tuple[object, ...]]:
    rows = query(db, "SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?)",
                 ("schema_version",))  # fmt: skip
    return {str(r[0]): r[1:] for r in rows}


def test_legacy_upgrade_keeps_column_definitions_indexes_triggers_and_views(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(APP))
    db = legacy_db(tmp_path / "app.db")
    objects = schema_objects(db)
    columns = column_definitions(db)
    code, output = migrate(root, db, "--no-backup")
    assert code == 0, output
    assert "upgraded the existing schema_version table in place" in output
    assert schema_objects(db) == objects | {
        "schema_version_identity": schema_objects(db)["schema_version_identity"]
    }
    after = column_definitions(db)
    for name in ("applied_at", "description", "owner", "ticket", "checksum"):
        assert after[name] == columns[name], name
    assert after["version"] == ("INTEGER", 1, None)  # the identity index replaces its key
    create = str(query(db, "SELECT sql FROM sqlite_master WHERE name = 'schema_version'")[0][0])
    assert "COLLATE NOCASE" in create and "CHECK (length(owner) > 0)" in create
    rows = query(db, "SELECT version, migration_type, description, owner, ticket FROM "
                     "schema_version ORDER BY migration_type = 'seed', version")  # fmt: skip
    assert rows == [
        (1, "schema", "patients", "alice", "OPS-1"),
        (2, "schema", "vitals", "ops", None),
        (3, "data", "more", "ops", None),
        (1, "seed", "defaults", "ops", None),
    ]
    # the trigger on schema_version fired for the two new rows; the view still reads it
    assert query(db, "SELECT what FROM audit") == [("applied 3",), ("applied 1",)]
    assert query(db, "SELECT version FROM latest") == [(3,)]
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        query(db, "INSERT INTO schema_version (version, ticket) VALUES (9, 'nope')")


def test_a_view_reading_schema_version_does_not_block_the_upgrade(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(APP))
    db = legacy_db(
        tmp_path / "app.db",
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT);"
        "INSERT INTO schema_version VALUES (1, 'patients');"
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);"
        "CREATE VIEW applied AS SELECT version, description FROM schema_version;",
    )
    code, output = migrate(root, db, "--no-backup")
    assert code == 0, output
    assert query(db, "SELECT version FROM applied ORDER BY version") == [(1,), (1,), (2,), (3,)]


def test_a_legacy_text_version_becomes_a_number_so_nothing_applies_twice(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(APP))
    db = legacy_db(
        tmp_path / "app.db",
        "CREATE TABLE schema_version (version TEXT PRIMARY KEY, description TEXT);"
        "INSERT INTO schema_version VALUES ('0001', 'patients'), ('0002', 'vitals');"
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);"
        "CREATE TABLE vitals (id INTEGER PRIMARY KEY, hr INTEGER);",
    )
    code, output = migrate(root, db, "--no-backup")
    assert code == 0, output
    assert "applied 0003" in output and "applied 0001" not in output
    assert versions(db) == [("schema", 1), ("schema", 2), ("data", 3), ("seed", 1)]
    code, output = migrate(root, db, "--no-backup")
    assert code == 0 and "up to date at 0003" in output, output


@pytest.mark.parametrize(
    ("script", "lost"),
    [
        (
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, d TEXT) WITHOUT ROWID;",
            "WITHOUT ROWID",
        ),
        (
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, d TEXT);"
            "CREATE TABLE notes (v INTEGER REFERENCES schema_version (version));",
            "table notes refers to schema_version (version) by a foreign key",
        ),
        (
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, note TEXT NOT NULL);",
            "column note is NOT NULL with no DEFAULT",
        ),
    ],
)
def test_an_upgrade_that_would_lose_something_is_refused_before_any_change(
    write_tree: WriteTree, tmp_path: Path, script: str, lost: str
) -> None:
    root = write_tree(tree(APP))
    db = legacy_db(tmp_path / "app.db", script + "INSERT INTO schema_version VALUES (1, 'x');")
    before = dump(db)
    code, output = migrate(root, db, "--no-backup")
    assert code == 1, output
    line = next(x for x in output.splitlines() if "cannot upgrade" in x)
    assert lost in line
    assert dump(db) == before


FOREIGN_LOG = (
    "CREATE TABLE schema_version_log (x TEXT); INSERT INTO schema_version_log VALUES ('mine');"
)


def full_dump(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize(
    "script",
    [
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY); "
        "INSERT INTO schema_version VALUES (1);",
        "",  # no schema_version yet
    ],
    ids=["legacy_schema_version", "no_schema_version"],
)
def test_a_schema_version_log_of_another_shape_is_one_line_before_any_change(
    write_tree: WriteTree, tmp_path: Path, script: str
) -> None:
    root = write_tree(tree(APP))
    db = legacy_db(tmp_path / "app.db", script + FOREIGN_LOG)
    before = full_dump(db)
    code, output = migrate(root, db, "--no-backup")
    assert code in (1, 2), output
    assert "SQLite error" not in output
    (line,) = [x for x in output.splitlines() if "schema_version_log" in x]
    assert "rename" in line and "(x)" in line
    assert full_dump(db) == before


def test_a_schema_version_log_replaced_under_current_bookkeeping_is_refused(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree({"schema/0001_base.sql": "CREATE TABLE base (x);\n"}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup")[0] == 0
    conn = sqlite3.connect(db)
    conn.executescript("DROP TABLE schema_version_log;" + FOREIGN_LOG)
    conn.close()
    write_tree(tree({"schema/0002_more.sql": "CREATE TABLE more (x);\n"}))
    before = full_dump(db)
    code, output = migrate(root, db, "--no-backup")
    assert code in (1, 2), output
    assert "SQLite error" not in output
    assert "schema_version_log" in output and "rename" in output
    assert full_dump(db) == before


# --- class 10: wrong values in the bookkeeping, absurd numbers ----------------------------------


def applied_app(write_tree: WriteTree, tmp_path: Path) -> tuple[Path, Path]:
    root = write_tree(tree(APP | {"rollback/0003_rollback.sql": "DELETE FROM patients;\n"}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup")[0] == 0
    return root, db


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (
            "UPDATE schema_version SET file_hash = x'00ff' WHERE version = 2",
            "schema_version row for 0002: file_hash is a BLOB, expected text",
        ),
        (
            "UPDATE schema_version SET version = 'two' WHERE version = 2",
            "schema_version: version 'two' is not a migration number",
        ),
        (
            "UPDATE schema_version SET version = 99999999999 WHERE version = 3",
            "schema_version: version 99999999999 is out of range",
        ),
        (
            "UPDATE schema_version SET version = -4 WHERE version = 3",
            "schema_version: version -4 is out of range",
        ),
        (
            "UPDATE schema_version SET rows_affected = 'many' WHERE version = 1",
            "schema_version row for 0001: rows_affected is text, expected an integer",
        ),
    ],
)
@pytest.mark.parametrize("command", [[], ["--status"], ["--rollback", "3"]])
def test_wrong_values_in_schema_version_are_one_line_exit_2(
    write_tree: WriteTree, tmp_path: Path, update: str, message: str, command: list[str]
) -> None:
    root, db = applied_app(write_tree, tmp_path)
    query(db, "PRAGMA foreign_keys = OFF")
    conn = sqlite3.connect(db)
    conn.execute(update)
    conn.commit()
    conn.close()
    before = dump(db)
    code, output = migrate(root, db, "--no-backup", *command)
    assert code == 2, output
    assert message in output
    assert dump(db) == before


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            "x'00', 'schema', 'x', NULL",
            "dirty mark id 100: version a BLOB is not a migration number",
        ),
        (
            "3, 'schema', 'x', x'01'",
            "row for dirty mark id 100: file_hash is a BLOB, expected text",
        ),
    ],
)
@pytest.mark.parametrize("module", ["ci.migrate", "ci.precheck"])
def test_wrong_values_in_a_dirty_mark_are_one_line_exit_2(
    write_tree: WriteTree, tmp_path: Path, values: str, message: str, module: str
) -> None:
    root, db = applied_app(write_tree, tmp_path)
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO schema_version_log (id, logged_at, action, version, migration_type, "
        f"description, file_hash) VALUES (100, 'now', 'dirty', {values})"
    )
    conn.commit()
    conn.close()
    args = (
        ["--status", "--migrations-dir", str(root / MIGRATIONS)] if module == "ci.migrate" else []
    )
    done = run_module(module, "--db", str(db), *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"schema_version_log {message}" in done.stderr


def test_checksums_reads_a_blob_hash_as_one_line(write_tree: WriteTree, tmp_path: Path) -> None:
    root, db = applied_app(write_tree, tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_version SET file_hash = x'00ff' WHERE version = 2")
    conn.commit()
    conn.close()
    done = run_module("ci.checksums", "--db", str(db), "--migrations-dir", str(root / MIGRATIONS))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stdout + done.stderr
    assert "file_hash is a BLOB, expected text" in done.stderr


@pytest.mark.parametrize("name", ["99999999999_huge.sql", "0000_zero.sql"])
def test_absurd_file_numbers_are_refused_with_one_line(
    write_tree: WriteTree, tmp_path: Path, name: str
) -> None:
    root = write_tree(tree(APP | {f"schema/{name}": "SELECT 1;\n"}))
    db = tmp_path / "app.db"
    code, output = migrate(root, db, "--no-backup")
    assert code == 1, output
    line = next(x for x in output.splitlines() if name in x)
    assert "number must be between 0001 and 999999999" in line
    assert not db.exists() or versions(db) == []


# --- class 10: read-only commands leave no -wal / -shm behind -----------------------------------


def sidecars(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name + "-"))


@pytest.mark.parametrize(
    "command",
    [
        ["ci.migrate", "--status", "--migrations-dir", "{root}"],
        ["ci.checksums", "--migrations-dir", "{root}"],
        ["ci.precheck"],
        ["ci.postcheck", "--expect-version", "3"],
    ],
)
def test_read_only_commands_leave_no_wal_files_beside_a_wal_database(
    write_tree: WriteTree, tmp_path: Path, command: list[str]
) -> None:
    root, db = applied_app(write_tree, tmp_path)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    conn.close()
    assert sidecars(db) == []
    module, *args = (part.format(root=root / MIGRATIONS) for part in command)
    done = run_module(module, "--db", str(db), *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert sidecars(db) == []


def test_read_only_command_keeps_wal_files_another_connection_uses(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    _root, db = applied_app(write_tree, tmp_path)
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("CREATE TABLE live (x)")
    writer.commit()
    try:
        assert sidecars(db) == [f"{db.name}-shm", f"{db.name}-wal"]
        done = run_module("ci.precheck", "--db", str(db))
        assert done.returncode == 0, done.stdout + done.stderr
        assert sidecars(db) == [f"{db.name}-shm", f"{db.name}-wal"]
        assert writer.execute("SELECT count(*) FROM live").fetchone() == (0,)
    finally:
        writer.close()
    assert sidecars(db) == []
    assert os.path.exists(db)
