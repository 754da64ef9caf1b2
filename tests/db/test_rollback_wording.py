"""`--rollback N` undoes N and every later migration: a refusal because one of them cannot be
undone names that migration and the furthest N that works, never "roll back to N"."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
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


def backup_named(tmp_path: Path, before: set[Path]) -> Path:
    (taken,) = set(tmp_path.glob("app.db.bak-*")) - before
    return taken


def test_a_backup_of_the_same_second_that_holds_the_migration_is_passed_over(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0002 applied, then 0003 by a second run in the same second: both backups carry that
    second, the later one `-2`, and it holds 0002 already (hostile repro 002). The one named is
    the backup whose own schema_version proves 0002 was not applied; restoring it undoes 0002.
    Looking into the backups (a WAL database's backups are WAL files) leaves nothing beside
    them."""
    root = write_tree(tree(FILES))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1", "--no-backup") == 0
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    assert migrate(root, db, "--target", "2") == 0
    first = backup_named(tmp_path, set())
    assert migrate(root, db) == 0
    second = backup_named(tmp_path, {first})
    same_second = first.with_name(first.name + "-2")
    second.rename(same_second)
    for name in ("-10", "-3"):  # -10 was taken after -9, not before -2; -3 is no database
        copy = first.with_name(first.name + name)
        copy.write_bytes(same_second.read_bytes() if name == "-10" else b"not a database")
    beside = sorted(tmp_path.iterdir())
    capsys.readouterr()
    assert rollback(root, db, "2") == 1
    way_back = capsys.readouterr().err.splitlines()[-1]
    assert way_back.startswith(f"migrate: the way back past 0002: restore {first}, "), way_back
    with closing(sqlite3.connect(first)) as restored:
        tables = {row[0] for row in restored.execute("SELECT name FROM sqlite_master")}
    assert "a" in tables and "b" not in tables  # 0001's table, not 0002's
    assert sorted(tmp_path.iterdir()) == beside


def test_a_backup_taken_after_the_migration_is_never_named_for_it(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The only backup was taken by the run after 0002's, in the second 0002 was applied: its
    name's time proves nothing, its schema_version shows 0002 applied; so the way back is a
    new migration."""
    root = write_tree(tree(FILES))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "2", "--no-backup") == 0
    assert migrate(root, db) == 0
    taken = backup_named(tmp_path, set())
    with closing(sqlite3.connect(db)) as conn:
        (applied_at,) = conn.execute("SELECT applied_at FROM schema_version WHERE version = 2")
    stamp = str(applied_at[0]).replace("-", "").replace(":", "")[:15] + "Z"
    taken.rename(tmp_path / f"app.db.bak-{stamp}")  # as if taken in that very second
    capsys.readouterr()
    assert rollback(root, db, "1") == 1
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith(
            "migrate: the way back past 0002: write a new migration that undoes what you need (no "
            f"backup ci.migrate took beside {db} predates 0002"
        )
    )


@pytest.mark.parametrize("dry_run", [False, True], ids=["rollback", "dry_run"])
def test_allow_changed_never_lets_a_rollback_undo_an_edited_applied_file(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: bool
) -> None:
    """0002 was applied as @irreversible; then its @irreversible line was removed and a
    rollback file added (hostile repro 021b). With --allow-changed the rollback ran that file
    (a WARNING, exit 0): now the combination is refused, exit 2, before anything changes; and
    without it the edited file refuses the rollback as before (exit 1)."""
    root = write_tree(tree(FILES))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup") == 0
    (root / MIGRATIONS / "schema" / "0002_b.sql").write_text(
        "CREATE TABLE b (id INTEGER);\n", encoding="utf-8"
    )
    (root / MIGRATIONS / "rollback" / "0002_rollback.sql").write_text("DROP TABLE b;\n", "utf-8")
    before = db.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        migrate(root, db, "--rollback", "1", "--allow-changed", *(["--dry-run"] * dry_run))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error: --allow-changed does not go with --rollback" in err
    assert "for an edit of comments or whitespace only, record it with --rehash first" in err
    assert db.read_bytes() == before and not list(tmp_path.glob("app.db.bak-*"))
    assert migrate(root, db, "--rollback", "1", *(["--dry-run"] * dry_run)) == 1
    assert "0002_b.sql" in capsys.readouterr().err
    assert db.read_bytes() == before
