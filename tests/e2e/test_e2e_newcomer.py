"""End to end, the README's flow for a new migration: `python -m ci.new`, write it, `git add`,
`git commit`, with the hooks in the README's order (the lock update first). The commit passes
at the first try and carries the lock entry of the text written, not of the stub. Real git, a
bare remote, real `pre-commit install` and `git commit`; the hook repository is this checkout
at HEAD."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import LOCK, M, clone_of_bare_remote, git, output, pre_commit_config, write
from tests.e2e.conftest import COMMIT_HOOKS
from tests.e2e.test_e2e_lock import shell

README_ORDER = ("migration-lock-update", *COMMIT_HOOKS)
PYTHON = sys.executable


@pytest.fixture
def newcomer(tmp_path: Path, hook_rev: str) -> Path:
    """A clone of a bare remote whose main has one migration and its lock (made by
    `ci.checksums --update`, as the README says), the hooks installed in the README's order."""
    work = clone_of_bare_remote(tmp_path)
    write(
        work,
        {
            ".pre-commit-config.yaml": pre_commit_config(hook_rev, README_ORDER),
            f"{M}/schema/0001_init.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY);\n",
            f"{M}/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
        },
    )
    done = shell(work, f"{PYTHON} -m ci.checksums --update && git add -A")
    assert done.returncode == 0, output(done)
    done = shell(work, "pre-commit install --hook-type pre-commit && git commit -q -m first")
    assert done.returncode == 0, output(done)
    git(work, "push", "-q", "-u", "origin", "main")
    git(work, "checkout", "-q", "-b", "feature")
    return work


def test_new_then_write_then_commit_passes_with_the_written_text_locked(newcomer: Path) -> None:
    work = newcomer
    done = shell(work, f"{PYTHON} -m ci.new schema add_email")
    assert done.returncode == 0, output(done)
    assert "0002_add_email.sql" not in (work / LOCK).read_text()  # the stub is not frozen
    write(
        work,
        {
            f"{M}/schema/0002_add_email.sql": "ALTER TABLE patients ADD COLUMN email TEXT;\n",
            f"{M}/rollback/0002_rollback.sql": "ALTER TABLE patients DROP COLUMN email;\n",
        },
    )
    done = shell(work, "git add -A && git commit -q -m 'add email'")
    assert done.returncode == 0, output(done)
    assert git(work, "status", "--porcelain") == ""  # the lock went into the commit
    committed = git(work, "show", f"HEAD:{LOCK}")
    assert "schema/0002_add_email.sql" in committed
    done = shell(work, f"{PYTHON} -m ci.checksums")
    assert done.returncode == 0, output(done)


def test_a_migration_not_git_added_is_not_locked_and_says_so(newcomer: Path) -> None:
    """The lock committed must list only what the commit holds: an entry for a file left out
    would read as a deleted migration on every other clone (MG210 in CI)."""
    work = newcomer
    write(
        work,
        {
            f"{M}/schema/0002_a.sql": "CREATE TABLE a (id INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE a;\n",
        },
    )
    done = shell(work, "git commit -q -m a")  # nothing added yet
    assert done.returncode != 0, output(done)
    assert f"{M}/schema/0002_a.sql: not locked: git's index does not have it" in output(done)
    assert "0002_a.sql" not in git(work, "show", f":{LOCK}")  # the index's lock
    done = shell(work, "git add -A && git commit -q -m a")
    assert done.returncode == 0, output(done)
    assert "schema/0002_a.sql" in git(work, "show", f"HEAD:{LOCK}")


def test_an_edit_of_a_merged_migration_still_fails_the_commit(newcomer: Path) -> None:
    work = newcomer
    (work / M / "schema/0001_init.sql").write_text(
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\n"
    )
    lock_before = (work / LOCK).read_bytes()
    done = shell(work, "git commit -q -am 'edit applied'")
    assert done.returncode != 0 and "MG201" in output(done), output(done)
    assert output(done).count("MG201") == 1  # said by the checksums hook, once
    assert (work / LOCK).read_bytes() == lock_before
