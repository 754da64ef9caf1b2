"""The runner's own rows are written, or the migration fails (hostile pass, items 5, 8, 12, 13).

- A trigger that ignores or changes the runner's schema_version / schema_version_log rows fails
  the migration (rolled back) instead of letting it apply again on every run.
- A legacy upgrade refuses, before any change, a trigger on schema_version and a column the
  runner's rows could not be written into; a comment with a comma in the old DDL is kept; a
  foreign key from schema_version or schema_version_log refuses adopting them.
- After a failed @no-transaction or @batch migration the messages say what really stays: the
  statements that ran, the rows they changed, and who holds the dirty mark.

Real SQLite files and real `python -m ci.migrate` processes.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from ci.db.tables import CREATE_LOG
from tests.conftest import MIGRATIONS, dump, make_db, query, run_module, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]

BONUS = {
    "schema/0001_acct.sql": "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);\n"
    "INSERT INTO acct VALUES (1, 0);\n",
    "data/0002_bonus.sql": "UPDATE acct SET bal = bal + 100;\n",
}
NOT_WRITTEN = "the runner's schema_version row was not written"


def migrate(root: Path, db: Path, *args: str) -> tuple[int, str]:
    done = run_module("ci.migrate", "--db", str(db), "--migrations-dir", str(root / MIGRATIONS),
                      "--no-backup", *args)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def balance(db: Path) -> object:
    return query(db, "SELECT bal FROM acct")[0][0]


# --- item 5: the runner checks its own rows were written -----------------------------------------

FREEZE = (
    "CREATE TRIGGER freeze BEFORE INSERT ON schema_version WHEN NEW.version > 1 "
    "BEGIN SELECT RAISE(IGNORE); END;"
)


def test_a_trigger_ignoring_the_runners_row_fails_the_migration_instead_of_reapplying_it(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    code, output = migrate(root, db, "--target", "1")
    assert code == 0, output
    make_db(db, FREEZE)  # added by hand, as a DBA might
    for _ in range(2):
        code, output = migrate(root, db)
        assert code == 1, output
        culprit = "a trigger on schema_version (freeze) ignores or changes it; remove it"
        assert f"{NOT_WRITTEN}: {culprit}" in output
        assert balance(db) == 0  # rolled back, every time
    assert query(db, "SELECT version FROM schema_version") == [(1,)]


def test_a_trigger_ignoring_the_delete_fails_the_rollback(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS | {"rollback/0002_rollback.sql": "UPDATE acct SET bal = 0;\n"}))
    db = tmp_path / "app.db"
    code, output = migrate(root, db)
    assert code == 0 and balance(db) == 100, output
    make_db(db, "CREATE TRIGGER keep BEFORE DELETE ON schema_version "
                "BEGIN SELECT RAISE(IGNORE); END;")  # fmt: skip
    code, output = migrate(root, db, "--rollback", "2")
    assert code == 1, output
    assert f"{NOT_WRITTEN}: a trigger on schema_version (keep) ignores or changes it" in output
    assert balance(db) == 100  # the rollback file's work was undone with it


def test_a_trigger_keeping_the_dirty_mark_open_fails_a_no_transaction_migration(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    nt = {"data/0002_bonus.sql": "-- @no-transaction\nUPDATE acct SET bal = bal + 100;\n"}
    root = write_tree(tree(BONUS | nt))
    db = tmp_path / "app.db"
    code, output = migrate(root, db, "--target", "1")
    assert code == 0, output
    make_db(db, "CREATE TRIGGER stay BEFORE UPDATE OF cleared_at ON schema_version_log "
                "BEGIN SELECT RAISE(IGNORE); END;")  # fmt: skip
    code, output = migrate(root, db)
    assert code == 1, output
    assert "schema_version_log row was not written: a trigger on schema_version_log (stay)" in (
        output
    )
    # not recorded as applied while its mark stays open: the database says dirty, consistently
    assert query(db, "SELECT version FROM schema_version") == [(1,)]
    assert query(db, "SELECT count(*) FROM schema_version_log WHERE action = 'dirty' "
                     "AND cleared_at IS NULL") == [(1,)]  # fmt: skip


# --- items 5 and 8: the legacy upgrade refuses what would reject the runner's rows ---------------


def test_a_legacy_trigger_on_schema_version_refuses_the_upgrade_before_any_change(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    make_db(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
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
    make_db(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
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
    make_db(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
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


CASCADE = "release TEXT REFERENCES releases(name) ON DELETE CASCADE"


@pytest.mark.parametrize("table", ["schema_version", "schema_version_log"])
def test_a_foreign_key_from_a_runner_table_refuses_adopting_it_before_any_change(
    write_tree: WriteTree, tmp_path: Path, table: str
) -> None:
    """A migration emptying `releases` would otherwise delete the runner's rows by cascade
    (0001 then pending again), without ever naming the runner's tables."""
    root = write_tree(tree({**BONUS, "data/0003_r.sql": "DELETE FROM releases;\n"}))
    db = tmp_path / "app.db"
    legacy = ", release TEXT" if table == "schema_version_log" else f", {CASCADE}"
    make_db(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
                "INSERT INTO acct VALUES (1, 0);"
                "CREATE TABLE releases (name TEXT PRIMARY KEY); INSERT INTO releases VALUES ('r1');"
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                f"description TEXT{legacy});"
                "INSERT INTO schema_version VALUES (1, 'init', 'r1');")  # fmt: skip
    if table == "schema_version_log":  # an attempt log of our shape, adopted as it is
        with closing(sqlite3.connect(db)) as conn:
            conn.execute(CREATE_LOG)
            conn.execute(f"ALTER TABLE schema_version_log ADD COLUMN {CASCADE}")
            conn.commit()
    before = dump(db)
    code, output = migrate(root, db)
    assert code == 1, output
    line = next(x for x in output.splitlines() if "cannot upgrade" in x)
    assert f"table {table}: column release refers to releases(name) by a foreign key" in line
    assert dump(db) == before and balance(db) == 0


# --- item 13 (legacy): comments inside the old CREATE TABLE ---------------------------------------


def test_comments_with_commas_in_the_legacy_ddl_are_kept_word_for_word(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    make_db(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
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


# --- item 12: what a failed @no-transaction / @batch migration leaves ---------------------------


def test_a_failed_no_transaction_migration_says_what_stays_committed(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    nt = {
        "data/0002_bonus.sql": "-- @no-transaction\nUPDATE acct SET bal = bal + 100;\n"
        "INSERT INTO no_such_table VALUES (1);\n"
    }
    root = write_tree(tree(BONUS | nt))
    db = tmp_path / "app.db"
    code, output = migrate(root, db)
    assert code == 1, output
    assert "rolled back" not in output
    assert (
        "FAILED: 0002 is a @no-transaction migration; the statements before line 3 stay "
        "committed and the database is marked dirty: fix the cause, then --resume (or repair "
        "by hand and --force-clean)"
    ) in output
    assert balance(db) == 100
    code, status = migrate(root, db, "--status")
    assert code == 1 and "(1 rows done)" in status, status


def test_a_failed_batch_migration_says_its_finished_batches_stay(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    batch = {
        "schema/0001_acct.sql": "CREATE TABLE acct (id INTEGER PRIMARY KEY, "
        "bal INTEGER CHECK (bal < 3));\n"
        "INSERT INTO acct (id) VALUES (1), (2), (3), (4);\n",
        "data/0002_fill.sql": "-- @batch 2\nUPDATE acct SET bal = id WHERE id IN "
        "(SELECT id FROM acct WHERE bal IS NULL ORDER BY id LIMIT :batch_size);\n",
    }
    root = write_tree(tree(batch))
    db = tmp_path / "app.db"
    code, output = migrate(root, db)
    assert code == 1, output
    assert "rolled back" not in output
    assert (
        "FAILED: 0002 is a @batch migration; its finished batches (2 rows) stay committed and "
        "the database is marked dirty: fix the cause, then --resume (or repair by hand and "
        "--force-clean)"
    ) in output
    assert query(db, "SELECT bal FROM acct ORDER BY id") == [(1,), (2,), (None,), (None,)]


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    """A running process to name as a dirty mark's holder."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _stat_start(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        data = stat.read()
    return data[data.rindex(b")") + 2 :].split()[19].decode()


def _boot() -> str:
    with open("/proc/sys/kernel/random/boot_id") as source:
        return source.read().strip()


def _failed_no_transaction(write_tree: WriteTree, tmp_path: Path) -> tuple[Path, Path]:
    nt = {"data/0002_bonus.sql": "-- @no-transaction\nINSERT INTO no_such_table VALUES (1);\n"}
    root = write_tree(tree(BONUS | nt))
    db = tmp_path / "app.db"
    code, output = migrate(root, db)
    assert code == 1, output
    return root, db


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_status_does_not_offer_resume_while_the_holder_runs(
    write_tree: WriteTree, tmp_path: Path, live_process: subprocess.Popen[bytes]
) -> None:
    root, db = _failed_no_transaction(write_tree, tmp_path)
    pid = live_process.pid
    holder = f"other pid {pid} on {socket.gethostname()} started {_stat_start(pid)} boot {_boot()}"
    make_db(db, f"UPDATE schema_version_log SET applied_by = '{holder}' WHERE action = 'dirty'")
    code, status = migrate(root, db, "--status")
    assert code == 1, status
    line = next(x for x in status.splitlines() if x.startswith("DIRTY"))
    assert f"is being applied right now by process {pid}" in line and "--resume" not in line


def test_status_names_force_clean_when_the_holder_cannot_be_proven_gone(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root, db = _failed_no_transaction(write_tree, tmp_path)
    make_db(db, "UPDATE schema_version_log SET applied_by = 'other pid 7 on elsewhere.example' "
                "WHERE action = 'dirty'")  # fmt: skip
    code, status = migrate(root, db, "--status")
    assert code == 1, status
    line = next(x for x in status.splitlines() if x.startswith("DIRTY"))
    assert "cannot be proven to have stopped" in line and "--force-clean" in line
    assert "--resume" not in line


def test_status_offers_resume_when_the_holder_is_gone(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root, db = _failed_no_transaction(write_tree, tmp_path)
    code, status = migrate(root, db, "--status")
    assert code == 1, status
    assert "Run with --resume" in next(x for x in status.splitlines() if x.startswith("DIRTY"))


@pytest.mark.parametrize("clause", ["IGNORE", "REPLACE"])
def test_a_legacy_conflict_clause_that_would_drop_rows_refuses_the_upgrade(
    write_tree: WriteTree, tmp_path: Path, clause: str
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    make_db(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
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


def test_a_failure_on_a_line_of_several_statements_does_not_claim_nothing_was_committed(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    nt = {
        "data/0002_bonus.sql": "-- @no-transaction\n"
        "UPDATE acct SET bal = bal + 100; INSERT INTO no_such_table VALUES (1);\n"
    }
    root = write_tree(tree(BONUS | nt))
    db = tmp_path / "app.db"
    code, output = migrate(root, db)
    assert code == 1, output
    assert "the statements before the failing one on line 2 stay committed" in output
    assert balance(db) == 100


def test_a_baseline_over_a_legacy_table_it_cannot_upgrade_is_one_line(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BONUS))
    db = tmp_path / "app.db"
    make_db(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);"
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT);"
                + FREEZE)  # fmt: skip
    before = dump(db)
    code, output = migrate(root, db, "--baseline", "1")
    assert code == 1, output
    line = next(x for x in output.splitlines() if "cannot upgrade" in x)
    assert "trigger freeze" in line
    assert dump(db) == before
