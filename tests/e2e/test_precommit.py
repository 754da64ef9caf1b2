"""The hooks through real pre-commit: `try-repo` this repository from a scratch git repository.

`--ref HEAD` of this repository: pre-commit then caches one hook environment for the session
(PRE_COMMIT_HOME is per test session, see conftest) instead of pip-installing a shadow copy of
the working tree for every call. So the hooks tested are the committed ones, as in CI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, M, git, output, run_in, run_with_hooks


def pre_commit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_with_hooks(cwd, sys.executable, "-m", "pre_commit", *args)


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def update_lock(root: Path) -> None:
    done = run_in(root, "ci.checksums", "--update")
    assert done.returncode == 0, output(done)


def test_manifest_is_valid() -> None:
    done = pre_commit(REPO, "validate-manifest", str(REPO / ".pre-commit-hooks.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_hooks_pass_a_clean_change_and_catch_reuse_and_edits(git_repo: Path, hook_rev: str) -> None:
    write(git_repo, f"{M}/schema/0001_init.sql", "CREATE TABLE patients (id INTEGER, name TEXT);\n")
    write(git_repo, f"{M}/rollback/0001_rollback.sql", "DROP TABLE patients;\n")
    write(
        git_repo,
        "schema/sample.sql",
        "-- @sample-version 1\nINSERT INTO patients VALUES (1, 'a');\n",
    )
    write(git_repo, "migration-guard.yaml", "sample: schema/sample.sql\n")  # for apply-sample
    update_lock(git_repo)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "first migration")

    # a clean change: the next number, its rollback, the lock entry; every hook, db ones too
    write(
        git_repo,
        f"{M}/schema/0002_name_index.sql",
        "CREATE INDEX patients_name ON patients (name);\n",
    )
    write(git_repo, f"{M}/rollback/0002_rollback.sql", "DROP INDEX patients_name;\n")
    update_lock(git_repo)
    git(git_repo, "add", "-A")
    done = pre_commit(git_repo, "try-repo", str(REPO), "--ref", hook_rev, "--hook-stage", "manual")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    passed = [line.split(".")[0] for line in output.splitlines() if line.endswith("Passed")]
    assert len(passed) == 8, output  # the six checks and the two lock hooks (nothing to write)
    git(git_repo, "commit", "-q", "-m", "index on names")

    # a second 0002 (another branch took the number) and an edit of the applied 0001
    write(git_repo, f"{M}/schema/0002_vitals.sql", "CREATE TABLE vitals (id INTEGER);\n")
    write(git_repo, f"{M}/schema/0001_init.sql", "CREATE TABLE patients (id INTEGER, nm TEXT);\n")
    git(git_repo, "add", "-A")
    done = pre_commit(git_repo, "try-repo", str(REPO), "--ref", hook_rev)  # stage pre-commit
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"{M}/schema/0002_vitals.sql: MG101 number 0002 is used twice" in output
    assert f"{M}/schema/0001_init.sql: MG201 applied migration was edited" in output
    assert "migrations apply" not in output  # the database hooks wait for pre-push
