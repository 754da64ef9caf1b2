"""`--backup PATH` and the default backup: never overwrite a file, never the database itself,
and a backup that fails (disk full) leaves no file at the backup's name and the database as it was.

A kill -9 during the backup is one family of the kill trials (tests/db/test_kill_trials.py).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from ci.db import backup
from tests.conftest import REPO, dump, query, run_on_tree, tree, versions

WriteTree = Callable[[dict[str, str | bytes]], Path]

TWO = tree(
    {
        "schema/0001_a.sql": (
            "CREATE TABLE a (id INTEGER PRIMARY KEY, pad BLOB);\n"
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 700)\n"
            "INSERT INTO a SELECT i, randomblob(1000) FROM n;\n"
        ),
        "rollback/0001_rollback.sql": "DROP TABLE a;\n",
        "schema/0002_b.sql": "CREATE TABLE b (x);\nINSERT INTO b VALUES (1);\n",
        "rollback/0002_rollback.sql": "DROP TABLE b;\n",
    }
)


def migrate(root: Path, db: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    # a backup onto the database itself used to hang forever: the timeout fails it instead
    return run_on_tree("ci.migrate", root, "--db", str(db), *args, cwd=cwd, timeout=60)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


def entries(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture
def at_0001(write_tree: WriteTree, tmp_path: Path) -> tuple[Path, Path]:
    """The migrations and a database at 0001 with ~700 KB of data; 0002 is pending."""
    root = write_tree(TWO)
    db = tmp_path / "prod.db"
    done = migrate(root, db, "--target", "1")
    assert done.returncode == 0, done.stderr
    return root, db


def test_an_existing_backup_path_is_refused_before_anything_changes(
    at_0001: tuple[Path, Path], tmp_path: Path
) -> None:
    root, db = at_0001
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:  # another database, worth keeping
        conn.execute("CREATE TABLE kept (x)")
        conn.execute("INSERT INTO kept VALUES ('precious')")
        conn.commit()
    kept = other.read_bytes()
    before = dump(db)
    done = migrate(root, db, "--backup", str(other))
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done)
    assert line.startswith(f"migrate: {other}: already exists"), line
    assert other.read_bytes() == kept
    assert dump(db) == before and versions(db) == [("schema", 1)]
    assert entries(tmp_path) == {"prod.db", "other.db", "repo"}


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink", "hardlink", "journal"])
def test_the_database_itself_as_its_backup_is_refused(
    at_0001: tuple[Path, Path], tmp_path: Path, spelling: str
) -> None:
    root, db = at_0001
    before = dump(db)
    work = tmp_path / "work"
    work.mkdir()
    backup = {
        "same": str(db),
        "relative": "../work/../prod.db",  # from `work`
        "symlink": str(tmp_path / "link.db"),
        "hardlink": str(tmp_path / "hard.db"),
        "journal": str(db) + "-journal",  # SQLite's own file beside the database
    }[spelling]
    if spelling == "symlink":
        (tmp_path / "link.db").symlink_to(db)
    if spelling == "hardlink":
        os.link(db, tmp_path / "hard.db")
    listing = entries(tmp_path)
    done = migrate(root, db, "--backup", backup, cwd=work)
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done)
    assert line.startswith(f"migrate: {backup}: "), line
    assert "is the database" in line, line
    assert dump(db) == before and versions(db) == [("schema", 1)]
    assert entries(tmp_path) == listing


def test_a_backup_path_under_a_file_is_refused_naming_it(
    at_0001: tuple[Path, Path], tmp_path: Path
) -> None:
    root, db = at_0001
    before = dump(db)
    done = migrate(root, db, "--backup", str(db / "x.bak"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_line(done) == (
        f"migrate: {db / 'x.bak'}: cannot be created: a parent of it is a file, not a directory"
    )
    assert dump(db) == before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs: room for the 700 KB database, not for its backup too."""
    mount = tmp_path / "small"
    mount.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command: cannot make a small disk to fill")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("where", ["default", "explicit"])
def test_a_full_disk_during_the_backup_leaves_no_backup_file_and_the_database_as_it_was(
    at_0001: tuple[Path, Path], small_disk: Path, where: str
) -> None:
    root, db = at_0001
    if where == "default":  # the database on the small disk, its backup beside it
        db = Path(shutil.copy(db, small_disk / "prod.db"))
        args: list[str] = []
    else:  # the database elsewhere, the backup asked for on the small disk
        shutil.copy(db, small_disk / "ballast")  # leave too little room for a copy
        args = ["--backup", str(small_disk / "prod.db.bak")]
    before = dump(db)
    listing = entries(small_disk)
    done = migrate(root, db, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done)
    assert "cannot write the backup" in line and "full" in line, line
    assert entries(small_disk) == listing  # no backup file, no partial copy, no journal
    assert dump(db) == before and versions(db) == [("schema", 1)]
    # room again: the same command goes through and the backup opens as the database was
    (small_disk / "ballast").unlink(missing_ok=True)
    saved = small_disk.parent / "saved.bak"
    done = migrate(root, db, "--backup", str(saved))
    assert done.returncode == 0, done.stderr
    assert dump(saved) == before


def test_a_file_that_appears_at_the_backup_name_meanwhile_is_kept(tmp_path: Path) -> None:
    """The name is checked before the copy, but another runner (two default backups in the
    same second) or a user may take it while the copy runs: the copy never replaces it."""
    db = tmp_path / "app.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES ('mine')")
        conn.commit()
        dest = tmp_path / "app.db.bak-20261204T000000Z"
        dest.write_bytes(b"someone else's")
        with pytest.raises(backup.BackupExists):
            backup.take(conn, dest)
        assert dest.read_bytes() == b"someone else's"
        taken = backup.take(conn, dest, next_free_name=True)
        assert taken == tmp_path / "app.db.bak-20261204T000000Z-2"
        assert dest.read_bytes() == b"someone else's"
    assert query(taken, "SELECT x FROM t") == [("mine",)]
    assert entries(tmp_path) == {"app.db", dest.name, taken.name}  # no temporary file left


def test_the_backup_of_a_wal_database_opens_with_its_data(
    at_0001: tuple[Path, Path], tmp_path: Path
) -> None:
    root, db = at_0001
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    before = dump(db)
    saved = tmp_path / "saved.bak"
    done = migrate(root, db, "--backup", str(saved))
    assert done.returncode == 0, done.stderr
    assert query(saved, "PRAGMA integrity_check") == [("ok",)]
    assert dump(saved) == before


def test_a_refused_rollback_takes_no_backup(at_0001: tuple[Path, Path], tmp_path: Path) -> None:
    """A rollback refused for an edited applied file changes nothing, a backup file included
    (a forward run refuses before its backup too)."""
    root, db = at_0001
    applied = next((root / "schema/migrations/schema").glob("0001_*.sql"))
    applied.write_text(applied.read_text() + "CREATE TABLE sneaked (x);\n")
    before = dump(db)
    done = migrate(root, db, "--rollback", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "edited" in done.stdout + done.stderr, done.stdout + done.stderr
    assert not any(".bak" in name for name in entries(tmp_path)), entries(tmp_path)
    assert dump(db) == before
