"""hooks.numbering / hooks.checksums: what pre-commit passes, adapted to the checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import checksums
from hooks import checksums as checksums_hook
from hooks import numbering as numbering_hook
from tests.conftest import M, WriteTree, git, run_module

GOOD = {
    f"{M}/schema/0001_init.sql": "CREATE TABLE t (a);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;\n",
    f"{M}/schema/0002_more.sql": "-- @irreversible x\nCREATE TABLE u (a);\n",
    "README.md": "readme\n",
}


@pytest.fixture
def repo(git_repo: Path, write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(GOOD)
    monkeypatch.chdir(git_repo)
    assert checksums.main(["--update"]) == 0
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "base")
    return git_repo


def test_no_migration_among_files_returns_0_at_once(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / M / "schema/0002_dup.sql").write_text("SELECT 1;\n")  # would fail numbering
    assert numbering_hook.main(["README.md"]) == 0
    assert checksums_hook.main(["README.md"]) == 0
    assert capsys.readouterr().out == ""


def test_any_migration_runs_the_whole_directory(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / M / "schema/0002_zzz.sql").write_text("SELECT 1;\n")
    assert numbering_hook.main(["README.md", f"{M}/schema/0001_init.sql"]) == 1
    assert "0002_zzz.sql: MG101" in capsys.readouterr().out  # a file that was not passed
    assert numbering_hook.main([]) == 1  # pass_filenames: false


def test_lock_file_alone_triggers_checksums(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = repo / "schema/migrations.lock"
    lock.write_text(lock.read_text() + "junk\n")
    assert checksums_hook.main(["schema/migrations.lock"]) == 1
    assert "MG205" in capsys.readouterr().out


def test_options_before_files_are_kept(
    repo: Path, write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree({"db/0001_a.sql": "-- @irreversible x\nSELECT 1;\n", "db/0003_c.sql": ""})
    assert numbering_hook.main(["--migrations-dir", "db", "db/0001_a.sql"]) == 1
    assert "db/0003_c.sql: MG102" in capsys.readouterr().out
    assert numbering_hook.main(["--migrations-dir", "db", f"{M}/schema/0001_init.sql"]) == 0


def test_from_ref_becomes_base_ref(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / M / "schema/0002_more.sql").write_text("-- @irreversible x\nCREATE TABLE v (a);\n")
    git(repo, "commit", "-q", "-am", "edit an applied file and commit it")
    assert checksums.main(["--rehash", f"{M}/schema/0002_more.sql"]) == 0  # the lock agrees...
    git(repo, "commit", "-q", "-am", "rehash it: the pushed commit (TO_REF) is what is judged")
    capsys.readouterr()
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", base)
    monkeypatch.setenv("PRE_COMMIT_TO_REF", "HEAD")
    assert checksums_hook.main([f"{M}/schema/0002_more.sql"]) == 1  # ...but the base ref does not
    assert f"applied per base ref {base}" in capsys.readouterr().out
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", "0" * 40)  # pre-push of a new branch
    assert checksums_hook.main([f"{M}/schema/0002_more.sql"]) == 0


def test_hooks_run_as_modules(repo: Path) -> None:
    for module in ("hooks.numbering", "hooks.checksums"):
        done = run_module(module, "README.md", cwd=repo)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
        done = run_module(module, f"{M}/schema/0001_init.sql", cwd=repo)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("OK ")


def test_hook_with_bad_from_ref_exits_2(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", "deadbeef")
    assert numbering_hook.main([f"{M}/schema/0001_init.sql"]) == 2
