"""End to end, for a team that has migration-guard only through pre-commit (no `ci` module in its
shell): every "To fix" of the lock is a pre-commit command, running it works, and the commit then
goes through. Real git, a bare remote, real `pre-commit install` and `git commit`; the hook
repository is this checkout at HEAD (as in test_e2e_push.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    HOOK_TIMEOUT,
    LOCK,
    REPO,
    M,
    clone_of_bare_remote,
    git,
    output,
    pre_commit_config,
    write,
)
from tests.e2e.conftest import COMMIT_HOOKS

INIT = f"{M}/schema/0001_init.sql"
HOOK_IDS = (*COMMIT_HOOKS, "migration-lock-update", "migration-lock-rehash")


def shell(cwd: Path, line: str) -> subprocess.CompletedProcess[str]:
    """A command line as the user pastes it; `pre-commit` is the test environment's."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        ["bash", "-c", line],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=HOOK_TIMEOUT,
        env={**env, "PATH": path, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def fix_for(done: subprocess.CompletedProcess[str], code: str) -> str:
    """The pre-commit command in the "To fix" of the finding with `code`."""
    (line,) = [line for line in output(done).splitlines() if f": {code} " in line]
    fix = line.split("To fix: ", 1)[1].removesuffix(".")
    command = fix[fix.index("pre-commit run ") :]
    for stop in (" and ", " ("):
        command = command.split(stop, 1)[0]
    return command


@pytest.fixture
def team_repo(tmp_path: Path, hook_rev: str) -> Path:
    """A clone of a bare remote whose main has one migration and the lock, made with the
    manual lock hook itself; the commit-time hooks are installed."""
    work = clone_of_bare_remote(tmp_path)
    write(
        work,
        {
            ".pre-commit-config.yaml": pre_commit_config(hook_rev, HOOK_IDS),
            INIT: "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\n",
            f"{M}/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
        },
    )
    git(work, "add", "-A")
    done = shell(work, "pre-commit run migration-lock-update --hook-stage manual --all-files")
    assert done.returncode == 0, output(done)
    assert (work / LOCK).is_file() and "schema/0001_init.sql" in (work / LOCK).read_text()
    assert LOCK in git(work, "diff", "--cached", "--name-only")  # staged by the hook
    done = shell(work, "pre-commit install --hook-type pre-commit && git commit -q -m first")
    assert done.returncode == 0, output(done)
    git(work, "push", "-q", "-u", "origin", "main")
    return work


def test_every_lock_fix_is_a_pre_commit_command_that_works(team_repo: Path) -> None:
    work = team_repo
    git(work, "checkout", "-q", "-b", "feature")

    # a new migration, not in the lock
    write(
        work,
        {
            f"{M}/schema/0002_names.sql": "CREATE INDEX patients_name ON patients (name);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP INDEX patients_name;\n",
        },
    )
    git(work, "add", "-A")
    done = shell(work, "git commit -q -m names")
    assert done.returncode != 0 and "MG204" in output(done), output(done)
    fix = fix_for(done, "MG204")
    assert fix == "pre-commit run migration-lock-update --hook-stage manual --all-files"
    # the module form only as the bracketed alternative, for migration-guard in the user's env
    assert ": python -m ci.checksums --update)" in output(done), output(done)
    done = shell(work, f"{fix} && git commit -q -m names")  # the fix chains
    assert done.returncode == 0, output(done)

    # an edit of this branch's own migration: not "applied", the lock entry is refreshed
    (work / M / "schema/0002_names.sql").write_text(
        "CREATE INDEX patients_name ON patients (name, id);\n"
    )
    done = shell(work, "git commit -q -am 'names, better'")
    assert done.returncode != 0 and "MG210" in output(done), output(done)
    assert "MG201" not in output(done)
    done = shell(work, f"{fix_for(done, 'MG210')} && git commit -q -am 'names, better'")
    assert done.returncode == 0, output(done)

    # a comment-only edit of the applied 0001: accepted through the rehash hook
    (work / INIT).write_text(
        "-- patients of the ward\nCREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\n"
    )
    done = shell(work, "git commit -q -am 'a comment'")
    assert done.returncode != 0 and f"{INIT}: MG201" in output(done), output(done)
    fix = fix_for(done, "MG201")
    assert fix == f"pre-commit run migration-lock-rehash --hook-stage manual --files {INIT}"
    done = shell(work, f"{fix} && git commit -q -am 'a comment'")
    assert done.returncode == 0, output(done)

    # a real edit of the applied 0001 is never accepted by the rehash hook
    (work / INIT).write_text("CREATE TABLE patients (id INTEGER PRIMARY KEY, nm TEXT);\n")
    lock_before = (work / LOCK).read_bytes()
    done = shell(work, fix)
    assert done.returncode != 0, output(done)
    assert f"{INIT}: statements changed" in output(done)
    assert (work / LOCK).read_bytes() == lock_before


def test_a_rehashed_comment_edit_is_pushed_and_a_statement_edit_is_not(team_repo: Path) -> None:
    """The pre-push hook compares with origin/main, where the applied text is: a comment-only
    edit the lock accepted (the rehash hook) passes there too; a statement edit forced into the
    lock does not, and its restore names origin/main (HEAD holds the edit)."""
    work = team_repo
    done = shell(work, "pre-commit install --hook-type pre-push")
    assert done.returncode == 0, output(done)
    git(work, "checkout", "-q", "-b", "feature")
    (work / INIT).write_text(
        "-- patients of the ward\nCREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\n"
    )
    done = shell(work, "git commit -q -am 'a comment'")
    assert done.returncode != 0 and f"{INIT}: MG201" in output(done), output(done)
    done = shell(work, f"{fix_for(done, 'MG201')} && git commit -q -am 'a comment'")
    assert done.returncode == 0, output(done)
    done = shell(work, "git push -q -u origin feature")
    assert done.returncode == 0, output(done)

    (work / INIT).write_text("CREATE TABLE patients (id INTEGER PRIMARY KEY, nm TEXT);\n")
    done = shell(work, f"python -m ci.checksums --rehash {INIT} && git commit -q -am 'nm'")
    assert done.returncode == 0, output(done)  # the lock was forced: the commit hook agrees
    done = shell(work, "git push -q origin feature")
    assert done.returncode != 0, output(done)
    assert f"{INIT}:1: MG201 applied migration was edited (statements changed" in output(done)
    assert f"git checkout origin/main -- {INIT}" in output(done), output(done)
    assert "git checkout HEAD" not in output(done)


def test_the_lint_hook_gives_one_verdict_for_many_files(git_repo: Path, hook_rev: str) -> None:
    """pre-commit splits a hook's files over several processes unless it is require_serial;
    each lint process printed its own summary ("FAILED lint" and "OK lint" for one commit)."""
    files = {
        f"{M}/schema/{n:04d}_t{n}.sql": f"CREATE TABLE t{n} (a INTEGER);\n" for n in range(1, 9)
    }
    files[f"{M}/schema/0003_t3.sql"] = "CREATE TABLE t3 (a INTEGER;\n"  # a syntax error
    write(git_repo, files)
    git(git_repo, "add", "-A")
    done = shell(
        git_repo,
        f"pre-commit try-repo {REPO} migration-lint --ref {hook_rev} --files {' '.join(files)}",
    )
    assert done.returncode == 1, output(done)
    verdicts = [line for line in output(done).splitlines() if line.startswith(("OK", "FAILED"))]
    assert len(verdicts) == 1 and verdicts[0].startswith("FAILED lint"), output(done)
