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
    (line,) = capsys.readouterr().err.splitlines()
    assert "0002 declared @irreversible (drops data)" in line
    assert f"--rollback 000{n} would have to undo it (it undoes 000{n} and every later" in line
    assert line.endswith("the furthest rollback possible is --rollback 0003")
    assert "roll back to" not in line
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
