"""`python -m ci.migrate`: the command line, exit codes and output, bad input."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ci.db import bookkeeping
from ci.migrate import main
from tests.conftest import BASE, MIGRATIONS, dump, query, run_module, seven, tree, versions

WriteTree = Callable[[dict[str, str | bytes]], Path]


def migrate(root: Path, db: Path, *args: str) -> int:
    return main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), *args])


def test_apply_prints_each_migration_and_status_shows_them(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        tree(BASE | {"seed/0001_defaults.sql": "INSERT OR IGNORE INTO patients VALUES (9, 'S');\n"})
    )
    db = tmp_path / "app.db"
    assert migrate(root, db) == 0
    out = capsys.readouterr().out
    assert "app.db: 3 to apply (0001 .. seed-0001; at 0000, head 0002)" in out
    assert "applied 0001      schema" in out and "applied 0002      schema" in out
    assert "applied seed-0001 seed" in out
    assert "OK: database at 0002 (head 0002, seed seed-0001)" in out
    assert migrate(root, db) == 0
    assert "up to date at 0002" in capsys.readouterr().out
    assert migrate(root, db, "--status") == 0
    status = capsys.readouterr().out
    assert "app.db: version 0002" in status
    assert status.count(" ok\n") == 3
    assert "pending: none" in status and "dirty: none" in status


def test_failing_migration_exits_1_with_file_and_line(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "INSERT INTO patients (mrn) VALUES ('a');\nSELECT 1;\nCREAT TABLE x (y);\n"
    root = write_tree(tree(BASE | {"data/0003_bad.sql": bad}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "2") == 0
    before = dump(db)
    capsys.readouterr()
    assert migrate(root, db, "--no-backup") == 1
    captured = capsys.readouterr()
    assert captured.err.strip().endswith('data/0003_bad.sql:3: near "CREAT": syntax error')
    assert "FAILED: that migration was rolled back; database at 0002" in captured.out
    assert dump(db) == before


def test_dry_run_changes_nothing_and_reports_rows(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--dry-run") == 0
    assert not db.exists()  # not even created
    out = capsys.readouterr().out
    assert "dry run: plan to apply 2 migration(s)" in out
    assert "  1. 0001 schema" in out and "  2. 0002 schema" in out
    assert "would apply 0002      schema" in out and ": 5 rows," in out
    assert "all 2 would succeed; nothing was changed" in out
    assert migrate(root, db, "--target", "1") == 0
    before = db.read_bytes()
    assert migrate(root, db, "--dry-run") == 0
    assert db.read_bytes() == before


def test_dry_run_reports_a_failure_with_exit_1(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(BASE | {"data/0003_bad.sql": "UPDATE nope SET x = 1;\n"}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--dry-run") == 1
    out = capsys.readouterr().out
    assert "would FAIL 0003:" in out and "0003_bad.sql:1: no such table: nope" in out
    assert "2 would succeed, 1 would fail; nothing was changed" in out


def test_rollback_runs_newest_first_and_status_follows(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven())
    db = tmp_path / "app.db"
    assert migrate(root, db) == 0
    capsys.readouterr()
    assert migrate(root, db, "--rollback", "5", "--no-backup") == 0
    out = capsys.readouterr().out
    order = [line.split()[2] for line in out.splitlines() if line.startswith("rolled back")]
    assert order == ["0007", "0006", "0005"]
    assert "0007_rollback.sql" in out
    assert "OK: database at 0004" in out
    assert [v for _, v in versions(db)] == [1, 2, 3, 4]
    assert migrate(root, db, "--status") == 0
    assert "pending (3):" in capsys.readouterr().out


def test_rollback_with_missing_rollback_file_changes_nothing(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven())
    (root / MIGRATIONS / "rollback/0005_rollback.sql").unlink()
    db = tmp_path / "app.db"
    assert migrate(root, db) == 0
    before = dump(db)
    assert migrate(root, db, "--rollback", "5") == 1
    assert "0005 has no rollback file" in capsys.readouterr().err
    assert dump(db) == before
    assert list(tmp_path.glob("app.db.bak-*")) == []  # refused before the backup, too


def test_edited_applied_file_stops_the_run_and_shows_in_status(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    assert migrate(root, db) == 0
    write_tree(
        tree(
            {
                "schema/0001_patients.sql": "CREATE TABLE patients (id INTEGER);\n",
                "schema/0003_new.sql": "CREATE TABLE n (x);\n",
            }
        )
    )
    capsys.readouterr()
    assert migrate(root, db) == 1
    err = capsys.readouterr().err
    assert "0001_patients.sql: edited after it was applied (statements changed)" in err
    assert versions(db) == [("schema", 1), ("schema", 2)]
    assert migrate(root, db, "--status") == 1
    status = capsys.readouterr().out
    assert "EDITED:" in status and "pending (1):" in status
    assert migrate(root, db, "--allow-changed", "--no-backup") == 0
    captured = capsys.readouterr()
    assert captured.err.count("WARNING: --allow-changed") == 1 and "applied 0003" in captured.out


def test_status_warns_about_a_missing_applied_file(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    assert migrate(root, db) == 0
    (root / MIGRATIONS / "schema/0002_vitals.sql").unlink()
    capsys.readouterr()
    assert migrate(root, db, "--status") == 0
    assert "missing file" in capsys.readouterr().out
    assert migrate(root, db) == 0
    assert "warning: 0002 vitals is applied but its file is missing" in capsys.readouterr().err


def test_status_of_a_database_that_does_not_exist_lists_all_pending(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "new.db"
    assert migrate(root, db, "--status") == 0
    out = capsys.readouterr().out
    assert "no database yet" in out and "pending (2):" in out
    assert not db.exists()


def test_target_applies_up_to_n(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven())
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "3") == 0
    assert [v for _, v in versions(db)] == [1, 2, 3]
    assert migrate(root, db, "--target", "2") == 0
    assert "above --target 0002; nothing to apply" in capsys.readouterr().out


# --- backups ---------------------------------------------------------------------------------


def test_default_backup_is_taken_before_changing_a_database_with_data(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven())
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "2") == 0
    assert list(tmp_path.glob("app.db.bak-*")) == []  # a new database has nothing to save
    before = dump(db)
    assert migrate(root, db) == 0
    backups = list(tmp_path.glob("app.db.bak-*"))
    assert len(backups) == 1
    assert f"backup: {backups[0]}" in capsys.readouterr().out
    assert dump(backups[0]) == before
    assert migrate(root, db, "--rollback", "7", "--no-backup") == 0
    assert len(list(tmp_path.glob("app.db.bak-*"))) == 1
    explicit = tmp_path / "saved" / "before.db"
    assert migrate(root, db, "--backup", str(explicit)) == 0
    assert [v for _, v in query(explicit, "SELECT 0, max(version) FROM schema_version")] == [6]


# --- dirty marks -----------------------------------------------------------------------------


def test_dirty_database_is_refused_until_resume_or_force_clean(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notx = "-- @no-transaction\nCREATE TABLE IF NOT EXISTS a (x);\nINSERT INTO later VALUES (1);\n"
    root = write_tree(tree({"schema/0001_notx.sql": notx}))
    db = tmp_path / "app.db"
    assert migrate(root, db) == 1
    capsys.readouterr()
    assert migrate(root, db) == 1
    assert "database is dirty: 0001 notx" in capsys.readouterr().err
    assert migrate(root, db, "--status") == 1
    assert "DIRTY:" in capsys.readouterr().out
    assert migrate(root, db, "--force-clean") == 0
    assert "cleared dirty mark for 0001 notx" in capsys.readouterr().out
    sqlite3.connect(db).execute("CREATE TABLE later (x)").connection.close()
    assert migrate(root, db, "--no-backup") == 0
    assert versions(db) == [("schema", 1)]


# --- bad input: one line, exit 1 or 2, never a traceback ---------------------------------------


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def good(write_tree: WriteTree) -> Path:
    return write_tree(tree(BASE))


@pytest.mark.parametrize(
    ("name", "content", "code", "message"),
    [
        ("schema/0003_latin1.sql", b"SELECT 'caf\xe9';\n", 1, "0003_latin1.sql:1: not valid UTF-8"),
        ("schema/0003_bin.sql", b"SQLite\x00\x01", 1, "binary file"),
        ("schema/3_short.sql", b"SELECT 1;\n", 1, "narrower than 4 digits"),
        ("schema/0003_x.sql", b"-- @frobnicate\nSELECT 1;\n", 1, "unknown directive @frobnicate"),
    ],
)
def test_bad_migration_files_get_one_line_and_change_nothing(
    good: Path, tmp_path: Path, name: str, content: bytes, code: int, message: str
) -> None:
    path = good / MIGRATIONS / name
    path.write_bytes(content)
    db = tmp_path / "app.db"
    done = run_module("ci.migrate", "--db", str(db), "--migrations-dir", str(good / MIGRATIONS))
    assert done.returncode == code
    assert message in one_line(done)
    assert not db.exists() or query(db, "SELECT name FROM sqlite_master") == []


def test_missing_migrations_dir_exits_2(tmp_path: Path) -> None:
    done = run_module(
        "ci.migrate", "--db", str(tmp_path / "a.db"), "--migrations-dir", str(tmp_path / "nope")
    )
    assert done.returncode == 2
    assert "migrations directory not found" in one_line(done)


def test_database_that_is_not_sqlite_exits_2(good: Path, tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("these are my notes, not a database\n" * 50)
    before = db.read_bytes()
    done = run_module("ci.migrate", "--db", str(db), "--migrations-dir", str(good / MIGRATIONS))
    assert done.returncode == 2
    assert one_line(done) == f"migrate: {db}: not a SQLite database"
    assert db.read_bytes() == before


def test_database_in_a_missing_directory_exits_2(good: Path, tmp_path: Path) -> None:
    db = tmp_path / "no" / "such" / "dir" / "app.db"
    done = run_module("ci.migrate", "--db", str(db), "--migrations-dir", str(good / MIGRATIONS))
    assert done.returncode == 2
    assert "cannot open the database file" in one_line(done)


@pytest.fixture
def read_only_db(tmp_path: Path) -> Iterator[Path]:
    """A database this process cannot write: immutable for root (chattr +i), else chmod."""
    db = tmp_path / "ro.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE keep (x)")
    conn.commit()
    conn.close()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a read-only file")
        if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode:
            pytest.skip("this file system does not support chattr +i")
        yield db
        subprocess.run(["chattr", "-i", str(db)], check=True)
    else:
        db.chmod(0o444)
        tmp_path.chmod(0o555)
        yield db
        tmp_path.chmod(0o755)


def test_read_only_database_exits_2_without_backup(
    good: Path, read_only_db: Path, tmp_path: Path
) -> None:
    done = run_module(
        "ci.migrate", "--db", str(read_only_db), "--migrations-dir", str(good / MIGRATIONS)
    )
    assert done.returncode == 2
    assert "database is read-only" in one_line(done)
    assert list(tmp_path.glob("ro.db.bak-*")) == []
    assert query(read_only_db, "SELECT name FROM sqlite_master") == [("keep",)]


@pytest.mark.parametrize(
    "args",
    [
        ["--rollback", "abc"],
        ["--status", "--rollback", "3"],
        ["--target", "3", "--rollback", "2"],
        ["--warn-slow", "-1"],
        ["--backup", "x.db", "--no-backup"],
    ],
)
def test_bad_arguments_exit_2(good: Path, tmp_path: Path, args: list[str]) -> None:
    done = run_module("ci.migrate", "--db", str(tmp_path / "a.db"), *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "error:" in done.stderr


def test_database_path_that_is_a_directory_exits_2(good: Path, tmp_path: Path) -> None:
    done = run_module(
        "ci.migrate", "--db", str(tmp_path), "--migrations-dir", str(good / MIGRATIONS)
    )
    assert done.returncode == 2
    assert "is a directory" in one_line(done)


def test_locked_database_fails_after_the_busy_timeout(good: Path, tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = run_module(
            "ci.migrate",
            "--db",
            str(db),
            "--migrations-dir",
            str(good / MIGRATIONS),
            "--busy-timeout",
            "0.3",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 2
    assert "locked by another process; gave up after waiting 0.3 s" in one_line(done)


def test_config_file_supplies_the_migrations_dir(
    write_tree: WriteTree,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = write_tree(tree(BASE) | {"migration-guard.yaml": f"migrations_dir: {MIGRATIONS}\n"})
    monkeypatch.chdir(root)
    assert main(["--db", str(tmp_path / "app.db")]) == 0
    assert "OK: database at 0002" in capsys.readouterr().out


def test_a_batch_still_running_elsewhere_is_not_called_dirty(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill = (
        "-- @batch 5\n"
        "UPDATE patients SET mrn = 'M'\n"
        " WHERE id IN (SELECT id FROM patients WHERE mrn IS NULL LIMIT :batch_size);\n"
    )
    root = write_tree(tree(BASE | {"data/0003_fill.sql": fill}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "2") == 0
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        conn = sqlite3.connect(db)
        conn.execute(
            "INSERT INTO schema_version_log (logged_at, action, version, migration_type, "
            "description, rows_affected, applied_by) VALUES ('2026-01-01T00:00:00Z', 'dirty', 3, "
            "'data', 'fill', 0, ?)",
            (
                f"migration-guard 0.1.0 pid {other.pid} on {socket.gethostname()} "
                f"started {bookkeeping.process_start(other.pid)} boot {bookkeeping.boot_id()}",
            ),
        )
        conn.commit()
        conn.close()
        capsys.readouterr()
        assert migrate(root, db) == 2
        assert f"0003 fill is being applied right now by process {other.pid} on" in (
            capsys.readouterr().err
        )
    finally:
        other.kill()
        other.wait()
    assert migrate(root, db) == 1
    assert "database is dirty: 0003 fill" in capsys.readouterr().err
    assert migrate(root, db, "--resume", "--no-backup") == 0
    assert query(db, "SELECT count(*) FROM patients WHERE mrn IS NULL") == [(0,)]


@pytest.mark.parametrize("name", [":memory:", "file:prod.db?mode=memory", "file:named.db"])
def test_a_database_in_memory_or_a_uri_is_refused(
    write_tree: Callable[[dict[str, str | bytes]], Path], name: str
) -> None:
    """SQLite would open these in memory or as a URI: 'OK: database at 0002' with nothing where
    the user looks. One line, exit 2, and no file written."""
    root = write_tree(tree(BASE))
    before = sorted(p.name for p in root.iterdir())
    done = run_module("ci.migrate", "--db", name, "--migrations-dir", MIGRATIONS, cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"migrate: {name}: an in-memory database or a URI, not a database file "
        f"(give the file's path; ./{name} for a file of that name)"
    )
    assert sorted(p.name for p in root.iterdir()) == before
