"""End to end: a repository's first push (or a branch with no ancestor on the remote), where
pre-commit hands the pre-push hooks no PRE_COMMIT_FROM_REF / TO_REF, only the local ref pushed.

The hooks must judge the commit pushed there too, never the working tree, and say in one line
when they cannot tell which commit that is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, M, clone_of_bare_remote, git, output, run_with_hooks, write
from tests.e2e.conftest import adoption, commit, install_hooks, migration, on_remote, push

TWO_TABLES = (
    "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE b (y INTEGER);\n"
)
MISSES_B = "DROP TABLE patients;\n"  # the rollback misses DROP TABLE b


def test_a_first_push_judges_the_pushed_commit_not_the_working_tree(
    tmp_path: Path, hook_rev: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # `python -m ci.checksums --update` for the lock
    work = clone_of_bare_remote(tmp_path)
    install_hooks(work)
    files = migration(1, "two_tables", TWO_TABLES, MISSES_B)
    commit(work, "adopt migration-guard", {**adoption(hook_rev), **files})
    rollback = f"{M}/rollback/0001_rollback.sql"
    write(work, {rollback: "DROP TABLE b;\n" + MISSES_B})  # fixed, but not committed
    done = run_with_hooks(work, sys.executable, "-m", "ci.checksums", "--update")
    assert done.returncode == 0, output(done)

    done = push(work, "-u", "origin", "main")
    assert done.returncode != 0, output(done)
    assert f"{rollback}: MG404" in output(done)
    assert "table b left behind" in output(done)
    assert on_remote(work, "main") == ""

    git(work, "commit", "-q", "--no-verify", "-am", "drop b as well")
    done = push(work, "-u", "origin", "main")
    assert done.returncode == 0, output(done)
    assert "migration rollback round trip..." in output(done)  # it ran, and passed
    assert on_remote(work, "main") == git(work, "rev-parse", "HEAD").strip()


def test_a_hook_that_cannot_tell_the_pushed_commit_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = clone_of_bare_remote(tmp_path)
    write(work, migration(1, "two_tables", TWO_TABLES, MISSES_B))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("PRE_COMMIT_LOCAL_BRANCH", "refs/heads/gone")  # what a push names
    monkeypatch.setenv("PRE_COMMIT_REMOTE_BRANCH", "refs/heads/main")
    for hook in ("hooks.rollback_roundtrip", "hooks.lint"):
        done = run_with_hooks(work, sys.executable, "-m", hook, f"{M}/schema/0001_two_tables.sql")
        assert done.returncode == 2, (hook, output(done))
        assert "refs/heads/gone" in done.stderr and "pushed" in done.stderr, output(done)
        assert len(done.stderr.strip().splitlines()) == 1, output(done)
