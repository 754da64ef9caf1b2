"""SIGTERM, what CI sends on cancel or timeout, stops a command as Ctrl-C does: its scratch
directory is removed, a migration in progress rolled back, one line, exit 143 (hostile repro
019). A kill -9 cannot be cleaned by the process itself: the next run removes what it left.
Real processes, each with its own TMPDIR."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS, REPO, query, tree

# never ends by itself: the signal is the only way out
ENDLESS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n;\n"
)
FILES = {
    "schema/0001_a.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    "rollback/0001_rollback.sql": "DROP TABLE a;\n",
    "schema/0002_endless.sql": "CREATE TABLE b (id INTEGER);\n" + ENDLESS,
    "rollback/0002_rollback.sql": "DROP TABLE b;\n",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in tree(files).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(text), encoding="utf-8")
    return root / MIGRATIONS


def start(module: str, *args: str, temp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )


def scratch_made(
    temp: Path, process: subprocess.Popen[str], known: frozenset[Path] = frozenset()
) -> Path:
    """The scratch directory `process` made under `temp` (not one of `known`), once its
    database is in it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        found = {p.parent for p in temp.glob("migration-guard-*/*.db")} - known
        if found:
            return found.pop()
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no scratch database appeared: {process.communicate()}")


def stopped(process: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, err


@pytest.mark.parametrize(
    "command",
    [("ci.apply_empty",), ("ci.rollback_roundtrip",), ("ci.migrate", "--dry-run")],
    ids=["apply_empty", "rollback_roundtrip", "migrate_dry_run"],
)
def test_sigterm_removes_the_scratch_directory_and_exits_143(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    migrations = write(tmp_path / "repo", FILES)
    temp = tmp_path / "temp"
    temp.mkdir()
    args = [*command[1:], "--migrations-dir", str(migrations)]
    if command[0] == "ci.migrate":
        args += ["--db", str(tmp_path / "app.db")]
    process = start(command[0], *args, temp=temp)
    scratch_made(temp, process)
    code, err = stopped(process, signal.SIGTERM)
    assert code == 143, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert list(temp.iterdir()) == []


def test_sigterm_rolls_back_the_migration_in_progress(tmp_path: Path) -> None:
    """ci.migrate on a real database: 0002 is stopped inside its transaction; 0001 stays
    applied, 0002's table is not there, and the line says so."""
    migrations = write(tmp_path / "repo", FILES)
    db = tmp_path / "app.db"
    temp = tmp_path / "temp"
    temp.mkdir()
    process = start("ci.migrate", "--db", str(db), "--migrations-dir", str(migrations), temp=temp)
    deadline = time.monotonic() + 60
    while applied(db) != [(1,)] and time.monotonic() < deadline:  # 0002 is running now
        time.sleep(0.05)
    code, err = stopped(process, signal.SIGTERM)
    assert code == 143, err
    assert "migrate: interrupted; the migration in progress was rolled back" in err, err
    assert query(db, "SELECT version FROM schema_version") == [(1,)]
    assert query(db, "SELECT name FROM sqlite_master WHERE name = 'b'") == []


def applied(db: Path) -> list[tuple[object, ...]]:
    try:
        return query(db, "SELECT version FROM schema_version")
    except sqlite3.Error:  # not created yet, or locked by the run: ask again
        return []


def test_the_next_run_removes_what_a_kill_9_left(tmp_path: Path) -> None:
    """A run killed with -9 leaves its scratch directory; the next run removes it (its lock is
    free: its creator is gone) and says so. A directory another live run holds, one an older
    version named (12 hex digits, no lock), and a symlink named like ours stay."""
    migrations = write(tmp_path / "repo", FILES)
    temp = tmp_path / "temp"
    temp.mkdir()
    holder = start("ci.apply_empty", "--migrations-dir", str(migrations), temp=temp)
    held = scratch_made(temp, holder)  # a live run's, all through the next one
    process = start("ci.apply_empty", "--migrations-dir", str(migrations), temp=temp)
    left = scratch_made(temp, process, frozenset({held}))
    code, _ = stopped(process, signal.SIGKILL)
    assert code == -signal.SIGKILL and left.is_dir()
    older = temp / "migration-guard-0123456789ab"
    older.mkdir()
    link = temp / "migration-guard-00112233445566aa"
    link.symlink_to(older)
    quick = write(tmp_path / "quick", {k: v for k, v in FILES.items() if "0002" not in k})
    done = subprocess.run(
        [sys.executable, "-m", "ci.apply_empty", "--migrations-dir", str(quick)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
        timeout=120,
    )
    assert held.is_dir()
    stopped(holder, signal.SIGTERM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed scratch directories left by runs that did not finish: {left}" in (done.stderr)
    assert not left.exists()
    assert older.is_dir() and link.is_symlink()
    assert str(held) not in done.stderr
