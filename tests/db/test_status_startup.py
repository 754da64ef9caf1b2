"""What `ci.migrate --status` reads: not the rollback folder (a run still does, and refuses a
bad entry there), and not the gate's modules; the collector main pauses for its start-up."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.migrate import main
from tests.conftest import BASE, MIGRATIONS, REPO, tree

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


def test_status_and_a_no_op_run_load_no_gate_and_a_run_that_applies_has_it(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    args = ["--db", str(db), "--migrations-dir", str(root / MIGRATIONS)]

    def gate_modules(*extra: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "ci.migrate", *args, *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        return [line.split("|")[-1].strip() for line in lines if "ci.db.gate" in line]

    assert "ci.db.gatekeeper" in gate_modules("--no-backup")  # a run screens through it
    assert gate_modules("--status") == []  # a read-only connection runs no migration
    assert gate_modules("--no-backup") == []  # nothing pending: no migration to screen


def test_main_turns_the_collector_back_on_only_if_it_was_on(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BASE))
    args = ["--db", str(tmp_path / "app.db"), "--migrations-dir", str(root / MIGRATIONS)]
    assert gc.isenabled()
    assert main([*args, "--status"]) == 0
    assert gc.isenabled()
    assert main([*args, "--no-backup"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0  # what the run froze can go again
    gc.disable()
    try:
        assert main([*args, "--status"]) == 0
        assert main(["--db", str(tmp_path / "x.db"), "--migrations-dir", "nowhere"]) == 2
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()


def test_status_names_a_number_used_twice_as_a_run_does(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Newcomer pass: a stray schema/0002 beside data/0002 showed as 'EDITED' in --status, while
    a run named the clash; --status now says what a run would refuse, and exits 1."""
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    args = ["--db", str(db), "--migrations-dir", str(root / MIGRATIONS)]
    assert main(args) == 0
    (root / MIGRATIONS / "data").mkdir(exist_ok=True)
    (root / MIGRATIONS / "data" / "0002_stray.sql").write_text("SELECT 1;\n")
    capsys.readouterr()
    assert main([*args, "--status"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: " in out and "number 0002 is also used by" in out


def imported_modules(*args: str, module: str = "ci.migrate") -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}


def test_status_and_a_no_op_run_import_no_parser_and_no_typing(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """A plain command line is read without argparse (and gettext, locale), and no module on
    these paths imports typing: each was a few percent of the start-up the budgets measure."""
    root = write_tree(tree(BASE))
    args = ["--db", str(tmp_path / "app.db"), "--migrations-dir", str(root / MIGRATIONS)]
    assert main([*args, "--no-backup"]) == 0
    unwanted = {"argparse", "gettext", "locale", "typing", "ci.app.cli", "ci.db.baseline"}
    assert imported_modules(*args, "--status") & unwanted == set()
    assert imported_modules(*args, "--no-backup") & unwanted == set()
    assert "argparse" in imported_modules(*args, "--no-backup", "--warn-slow", "5")


def test_checksums_imports_no_typing(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    modules = imported_modules(
        "--migrations-dir", str(root / MIGRATIONS), "--update", module="ci.checksums"
    )
    assert "ci.checks.checksums" in modules and "typing" not in modules
