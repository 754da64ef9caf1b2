"""The end-to-end suites' consumer repository: a clone of a bare remote with the hooks of this
checkout installed by real `pre-commit install`, and the real `git commit` / `git push` around it.

The hook repository is this checkout at HEAD (`hook_rev`): pre-commit builds the hook environment
once per test session (PRE_COMMIT_HOME is per session, see tests/conftest.py), so the hooks
tested are the committed ones.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    REPO,
    M,
    clone_of_bare_remote,
    git,
    output,
    pre_commit_config,
    run_with_hooks,
    write,
)

COMMIT_HOOKS = ("migration-numbering", "migration-checksums", "migration-lint")
HOOK_IDS = (*COMMIT_HOOKS, "migration-apply-empty", "migration-apply-sample", "migration-rollback")
SAMPLE = "-- @sample-version 1\nINSERT INTO patients (id, name) VALUES (1, 'a');\n"


def migration(number: int, slug: str, sql: str, undo: str, root: str = M) -> dict[str, str]:
    return {
        f"{root}/schema/{number:04d}_{slug}.sql": sql,
        f"{root}/rollback/{number:04d}_rollback.sql": undo,
    }


def commit(work: Path, message: str, files: dict[str, str], *, verify: bool = True) -> None:
    """Write files, update the lock, commit (the pre-commit hooks run unless `verify` is off)."""
    write(work, files)
    done = run_with_hooks(
        work, sys.executable, "-m", "ci.checksums", "--update", *_dir_option(work)
    )
    assert done.returncode == 0, output(done)
    git(work, "add", "-A")
    done = run_with_hooks(
        work, "git", "commit", "-q", "-m", message, *([] if verify else ["--no-verify"])
    )
    assert done.returncode == 0, output(done)


def _dir_option(work: Path) -> list[str]:
    config = work / "migration-guard.yaml"
    return ["--config", str(config)] if config.is_file() else []


Consumer = Callable[..., Path]


@pytest.fixture
def consumer(tmp_path: Path, hook_rev: str, monkeypatch: pytest.MonkeyPatch) -> Consumer:
    """make(migrations_dir=M) -> a clone of a bare remote whose main has one migration, the
    lock, sample data and the six hooks installed (the setup itself is pushed unchecked)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # `python -m ci.checksums --update` for the lock

    def make(migrations_dir: str = M) -> Path:
        work = clone_of_bare_remote(tmp_path)
        files = {**adoption(hook_rev, migrations_dir), **first_migration(migrations_dir)}
        commit(work, "adopt migration-guard", files, verify=False)
        git(work, "push", "-q", "--no-verify", "-u", "origin", "main")
        install_hooks(work)
        return work

    return make


def adoption(hook_rev: str, migrations_dir: str = M) -> dict[str, str]:
    """The files a team adds to adopt the tool: the hooks' config, migration-guard.yaml and
    sample data."""
    return {
        ".pre-commit-config.yaml": pre_commit_config(hook_rev, HOOK_IDS),
        "migration-guard.yaml": f"migrations_dir: {migrations_dir}\nsample: schema/sample.sql\n",
        "schema/sample.sql": SAMPLE,
    }


def first_migration(migrations_dir: str = M) -> dict[str, str]:
    return migration(
        1,
        "patients",
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\n",
        "DROP TABLE patients;\n",
        migrations_dir,
    )


def install_hooks(work: Path) -> None:
    """`pre-commit install` for the commit and push hooks, as the README says."""
    done = run_with_hooks(
        work,
        sys.executable,
        "-m",
        "pre_commit",
        "install",
        "--hook-type",
        "pre-commit",
        "--hook-type",
        "pre-push",
    )
    assert done.returncode == 0, output(done)


def push(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_with_hooks(work, "git", "push", *args)


def on_remote(work: Path, branch: str) -> str:
    return git(work, "ls-remote", "origin", f"refs/heads/{branch}").split("\t")[0]
