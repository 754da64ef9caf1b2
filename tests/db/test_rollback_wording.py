"""`--rollback N` undoes N and every later migration: a refusal because one of them cannot be
undone names that migration and the furthest N that works, never "roll back to N"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ci.migrate import main
from tests.conftest import MIGRATIONS, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]
FILES = {
    "schema/0001_a.sql": "CREATE TABLE a (id INTEGER);\n",
    "rollback/0001_rollback.sql": "DROP TABLE a;\n",
    "schema/0002_b.sql": "-- @irreversible drops data\nCREATE TABLE b (id INTEGER);\n",
    "schema/0003_c.sql": "CREATE TABLE c (id INTEGER);\n",
    "rollback/0003_rollback.sql": "DROP TABLE c;\n",
}


def rollback(root: Path, db: Path, n: str) -> int:
    m = str(root / MIGRATIONS)
    return main(["--db", str(db), "--migrations-dir", m, "--rollback", n, "--no-backup"])


@pytest.mark.parametrize("n", ["1", "2"])
def test_the_irreversible_migration_and_the_furthest_rollback_are_named(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str], n: str
) -> None:
    root = write_tree(tree(FILES))
    db = tmp_path / "app.db"
    assert main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS)]) == 0
    capsys.readouterr()
    assert rollback(root, db, n) == 1
    line, way_back = capsys.readouterr().err.splitlines()
    assert "0002 declared @irreversible (drops data)" in line
    assert f"--rollback 000{n} would have to undo it (it undoes 000{n} and every later" in line
    assert line.endswith("the furthest rollback possible is --rollback 0003")
    assert "roll back to" not in line
    assert way_back.startswith("migrate: the way back past 0002: write a new migration")
    assert rollback(root, db, "3") == 0  # the one it names works


def test_an_irreversible_newest_migration_allows_no_rollback(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {k: v for k, v in FILES.items() if "0003" not in k}
    root = write_tree(tree(files))
    db = tmp_path / "app.db"
    assert main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS)]) == 0
    capsys.readouterr()
    assert rollback(root, db, "2") == 1
    err = capsys.readouterr().err
    assert "nothing after 0002 is applied, so no rollback is possible now" in err


def migrate(root: Path, db: Path, *args: str) -> int:
    return main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), *args])


def test_the_way_back_is_the_backup_taken_before_the_irreversible_migration(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Of the backups beside the database, the newest one older than the @irreversible
    migration's applied_at is named: a later one already holds its change."""
    root = write_tree(tree(FILES))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1", "--no-backup") == 0
    assert migrate(root, db) == 0  # backs up the database at 0001, then applies 0002 and 0003
    (taken,) = tmp_path.glob("app.db.bak-*")
    older = tmp_path / "app.db.bak-20000101T000000Z"
    later = tmp_path / "app.db.bak-20991231T235959Z"
    for copy in (older, later):
        copy.write_bytes(taken.read_bytes())
    capsys.readouterr()
    assert rollback(root, db, "2") == 1
    way_back = capsys.readouterr().err.splitlines()[-1]
    assert way_back == (
        f"migrate: the way back past 0002: restore {taken}, the backup ci.migrate took before "
        "0002 was applied (it loses every change made since: docs/runner.md#backups), or "
        "write a new migration that undoes what you need"
    )


def test_without_a_backup_the_way_back_is_a_new_migration(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(FILES))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup") == 0
    capsys.readouterr()
    assert rollback(root, db, "1") == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "migrate: the way back past 0002: write a new migration that undoes what you need (no "
        f"backup ci.migrate took beside {db} predates 0002; one written with --backup PATH "
        "elsewhere may)"
    )


@pytest.mark.parametrize("dry_run", [False, True], ids=["rollback", "dry_run"])
def test_a_rollback_file_beside_an_irreversible_migration_is_refused_naming_both(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: bool
) -> None:
    """The runner used the file, silently: now the contradiction stops the rollback before
    anything changes (no backup either), one line, exit 2."""
    root = write_tree(tree({**FILES, "rollback/0002_rollback.sql": "DROP TABLE b;\n"}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup") == 0
    before = db.read_bytes()
    capsys.readouterr()
    assert migrate(root, db, "--rollback", "2", *(["--dry-run"] if dry_run else [])) == 2
    migration = root / MIGRATIONS / "schema" / "0002_b.sql"
    rollback_file = root / MIGRATIONS / "rollback" / "0002_rollback.sql"
    assert capsys.readouterr().err.splitlines() == [
        f"migrate: {migration}: 0002 declares @irreversible (drops data), yet {rollback_file} "
        "exists to undo it; --rollback 0002 is refused until one of them goes (delete the "
        "rollback file if it cannot be undone, else the @irreversible line)"
    ]
    assert db.read_bytes() == before
    assert list(tmp_path.glob("app.db.bak-*")) == []
    assert migrate(root, db, "--rollback", "3", "--no-backup") == 0  # 0003 alone is undone
