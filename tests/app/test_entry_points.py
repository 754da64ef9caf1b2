"""Every command as a program: a reader that leaves (`| head -1`) and numbers in options."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_module


def migrations(root: Path, count: int = 9) -> Path:
    for number in range(1, count + 1):
        path = root / "m" / "schema" / f"{number:04d}_t{number}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"CREATE TABLE t{number} (x);\n")
    return root / "m"


def run_into_closed_pipe(*args: str, stderr_too: bool) -> subprocess.CompletedProcess[str]:
    """Run `python -m args` with stdout (and stderr) a pipe whose reader has already gone:
    the first write fails with EPIPE every time, not only when `head` happens to be fast."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=REPO,
            stdout=write_end,
            stderr=write_end if stderr_too else subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "command",
    [
        ("ci.migrate", "--db", "{db}", "--migrations-dir", "{m}", "--status"),
        ("ci.migrate", "--db", "{db}", "--migrations-dir", "{m}", "--no-backup"),
        ("ci.numbering", "--migrations-dir", "{m}"),
        ("ci.precheck", "--db", "{db}"),
        ("ci.new", "--migrations-dir", "{m}", "schema", "extra"),
        ("ci", "--migrations-dir", "{m}", "--checks", "numbering"),
        ("hooks.numbering", "--migrations-dir", "{m}"),
    ],
)
def test_output_into_a_closed_pipe_is_no_traceback(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    m = migrations(tmp_path)
    db = tmp_path / "app.db"
    sqlite3.connect(db).close()
    args = [a.format(db=db, m=m) for a in command]
    done = run_into_closed_pipe(*args, stderr_too=False)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr


def test_a_migration_whose_reader_left_still_finishes(tmp_path: Path) -> None:
    """The reader leaving is no reason to stop halfway: the run completes, exit 0."""
    m = migrations(tmp_path)
    db = tmp_path / "app.db"
    done = run_into_closed_pipe(
        "ci.migrate", "--db", str(db), "--migrations-dir", str(m), "--no-backup", stderr_too=True
    )
    assert done.returncode == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 9
    conn.close()


ARABIC_THREE = "\u0663"


@pytest.mark.parametrize(
    "command",
    [
        ("ci.migrate", "--db", "{db}", "--migrations-dir", "{m}", "--target", "{n}"),
        ("ci.migrate", "--db", "{db}", "--migrations-dir", "{m}", "--rollback", "{n}"),
        ("ci.migrate", "--db", "{db}", "--migrations-dir", "{m}", "--warn-slow", "{n}"),
        ("ci.migrate", "--db", "{db}", "--migrations-dir", "{m}", "--busy-timeout", "{n}"),
        ("ci.postcheck", "--db", "{db}", "--expect-version", "{n}"),
        ("ci.apply_empty", "--migrations-dir", "{m}", "--statement-timeout", "{n}"),
        ("ci.apply_empty", "--migrations-dir", "{m}", "--warn-slow", "{n}"),
        ("ci.rollback_roundtrip", "--migrations-dir", "{m}", "--jobs", "{n}"),
        ("ci.lint", "--migrations-dir", "{m}", "--sqlfluff-max-bytes", "{n}"),
    ],
)
def test_numbers_are_ascii_digits_only(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Python's int() and float() read any script's digits (`--target ٣` was 3)."""
    m = migrations(tmp_path, 3)
    db = tmp_path / "app.db"
    sqlite3.connect(db).close()
    done = run_module(*(a.format(db=db, m=m, n=ARABIC_THREE) for a in command))
    assert done.returncode == 2, done.stdout + done.stderr
    assert ARABIC_THREE in done.stderr and "Traceback" not in done.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()
