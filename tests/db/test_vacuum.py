"""A plain `VACUUM` (in a @no-transaction migration) runs wherever the real run runs it: the
runner, the dry run and the checks. What it attaches is SQLite's own temporary copy, told from
the statement SQLite compiles (its Vacuum opcode has no INTO target); `VACUUM INTO` writes a file
of the user's, and stays refused where ATTACH is (the checks, the dry run).

Real SQLite files, the real runner (in this process) and real `python -m ci.apply_empty`
processes with their own TMPDIR.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
from pathlib import Path

import pytest

from ci.migrate import main
from tests.conftest import WriteTree, output, run_module

FILL = (
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"
    "CREATE INDEX notes_body ON notes (body);\n"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)\n"
    "INSERT INTO notes (body) SELECT hex(randomblob(400)) FROM n;\n"
    "DELETE FROM notes WHERE id > 10;\n"
)
NO_TRANSACTION = "-- @no-transaction VACUUM cannot run in a transaction\n"


def migrate(root: Path, db: Path, *args: str) -> tuple[int, str]:
    """`python -m ci.migrate` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--db", str(db), "--migrations-dir", str(root / "m"), "--no-backup", *args])
    return code, out.getvalue() + err.getvalue()


def free_pages(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        conn.close()


def vacuum_tree(write_tree: WriteTree, statement: str) -> Path:
    return write_tree(
        {"m/schema/0001_fill.sql": FILL, "m/schema/0002_vacuum.sql": NO_TRANSACTION + statement}
    )


@pytest.mark.parametrize("statement", ["VACUUM;\n", "vacuum main;\n", "/* compact */ Vacuum;\n"])
def test_a_plain_vacuum_really_runs_in_the_real_run(
    write_tree: WriteTree, tmp_path: Path, statement: str
) -> None:
    """It once stopped at the BEGIN of SQLite's own copy ("notice: BEGIN ignored"): the
    migration was recorded as applied and the database never vacuumed."""
    root = vacuum_tree(write_tree, statement)
    db = tmp_path / "app.db"
    code, out = migrate(root, db, "--target", "1")
    assert code == 0, out
    assert free_pages(db) > 0
    code, out = migrate(root, db)
    assert code == 0 and "applied 0002" in out, out
    assert "ignored" not in out and "notice" not in out, out
    assert free_pages(db) == 0


def test_the_dry_run_and_apply_empty_run_a_plain_vacuum_as_the_real_run(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = vacuum_tree(write_tree, "VACUUM;\n")
    db = tmp_path / "app.db"
    code, out = migrate(root, db, "--dry-run")
    assert code == 0 and "would apply 0002" in out, out
    temp, cwd = tmp_path / "temp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    done = run_module(
        "ci.apply_empty", "--migrations-dir", str(root / "m"), cwd=cwd, env={"TMPDIR": str(temp)}
    )
    assert done.returncode == 0, output(done)
    assert "MG301" not in output(done) and "Traceback" not in output(done)
    assert list(cwd.iterdir()) == [] and list(temp.iterdir()) == []


def test_vacuum_into_writes_its_file_in_the_real_run_and_is_refused_in_the_dry_run(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """A real run may write where the user says (ATTACH runs there too); the dry run may not."""
    copy = tmp_path / "copy.db"
    root = vacuum_tree(write_tree, f"VACUUM INTO '{copy}';\n")
    db = tmp_path / "app.db"
    code, out = migrate(root, db, "--dry-run")
    assert code == 1 and "0002_vacuum.sql:2: VACUUM INTO is not allowed" in out, out
    assert not copy.exists() and not db.exists()
    code, out = migrate(root, db)
    assert code == 0 and "notice" not in out, out
    assert free_pages(copy) == 0 and free_pages(db) > 0  # the copy is vacuumed, not the database


def test_a_vacuum_in_the_migrations_transaction_fails_with_sqlites_own_error(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree({"m/schema/0001_fill.sql": FILL + "VACUUM;\n"})
    code, out = migrate(root, tmp_path / "app.db")
    assert code == 1 and "0001_fill.sql:6: cannot VACUUM from within a transaction" in out, out
