"""`--base-ref REF` compares with the merge base of HEAD and REF (not REF's tip), in real git
repositories with real processes; shared helpers for the hook tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, WriteTree, git

M = "schema/migrations"
FIRST = {
    f"{M}/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;\n",
}


def run(cwd: Path, module: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


def commit(root: Path, message: str) -> str:
    done = run(root, "ci.checksums", "--update")
    assert done.returncode == 0, done.stdout + done.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(git_repo: Path, write_tree: WriteTree) -> Path:
    write_tree(FIRST)
    commit(git_repo, "first migration")
    return git_repo


def test_base_ref_compares_with_the_merge_base(repo: Path, write_tree: WriteTree) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "checkout", "-q", "main")
    write_tree(
        {
            f"{M}/schema/0002_main.sql": "CREATE TABLE m (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE m;\n",
        }
    )
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")  # behind main: it lacks 0002, it did not delete it
    fork = git(repo, "merge-base", "HEAD", "main").strip()[:7]
    for check in ("checksums", "numbering", "rollback_roundtrip"):
        done = run(repo, f"ci.{check}", "--base-ref", "main")
        assert done.returncode == 0, (check, done.stdout + done.stderr)
        assert f"compared with merge base {fork} of HEAD and main" in done.stderr

    # a new migration must still be numbered above main's newest (the tip), not the fork's
    write_tree(
        {
            f"{M}/schema/0002_feature.sql": "CREATE TABLE f (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE f;\n",
        }
    )
    done = run(repo, "ci.numbering", "--base-ref", "main")
    assert done.returncode == 1 and "MG108 new migration 0002" in done.stdout, done.stdout


def test_editing_unmerged_work_is_not_an_applied_edit(repo: Path, write_tree: WriteTree) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree(
        {
            f"{M}/schema/0002_wip.sql": "CREATE TABLE w (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE w;\n",
        }
    )
    commit(repo, "work in progress, in the lock")
    (repo / M / "schema/0002_wip.sql").write_text("CREATE TABLE w (a INTEGER, b TEXT);\n")
    done = run(repo, "ci.checksums", "--base-ref", "main")
    assert "MG201" not in done.stdout, done.stdout
    (repo / M / "schema/0001_init.sql").write_text("CREATE TABLE t (b INTEGER);\n")
    done = run(repo, "ci.checksums", "--base-ref", "main")  # merged work is still guarded
    assert done.returncode == 1 and f"{M}/schema/0001_init.sql:1: MG201" in done.stdout


def test_a_shallow_clone_without_the_merge_base_says_how_to_fetch_it(
    repo: Path, write_tree: WriteTree, tmp_path: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree({"README.md": "feature\n"})
    commit(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    write_tree({"NOTES.md": "main\n"})
    commit(repo, "main work")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", repo.as_uri(), str(clone))
    git(clone, "checkout", "-q", "feature")
    done = run(clone, "ci.checksums", "--base-ref", "origin/main")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "shallow clone" in done.stderr and "fetch-depth: 0" in done.stderr, done.stderr
