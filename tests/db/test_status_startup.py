"""What `ci.migrate --status` reads: not the rollback folder (a run still does, and refuses a
bad entry there)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ci.migrate import main
from tests.conftest import BASE, MIGRATIONS, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]


def test_status_skips_the_rollback_folder_and_a_run_still_refuses_a_bad_entry_there(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(BASE | {"rollback/0002_Vitals.sql": "DROP TABLE vitals;\n"}))
    db = tmp_path / "app.db"
    args = ["--db", str(db), "--migrations-dir", str(root / MIGRATIONS)]
    assert main(args) == 1
    assert "rollback/0002_Vitals.sql: malformed migration name" in capsys.readouterr().err
    assert main([*args, "--status"]) == 0
    captured = capsys.readouterr()
    assert "pending (2):" in captured.out and captured.err == ""
