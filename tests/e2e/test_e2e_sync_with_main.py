"""End to end: a feature branch that was pushed, then synced with a main that took the same
number, is compared with main at pre-push (not with its own previous push).

The newcomer's scenario, in a consumer repository with a bare remote and the hooks installed
by `pre-commit install` (tests/e2e/conftest.py): `feature` pushed 0002 and 0003, then main
got a different 0002. After `git merge origin/main` (or `git rebase origin/main`) and renaming
the branch's own 0002 to 0004, the push goes through; without the rename it is refused, naming
the branch's file, never main's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import git, output, run_with_hooks, write
from tests.e2e.conftest import Consumer, commit, on_remote, push

D = "db/migrations"
LOCK = "db/migrations.lock"
OURS = f"{D}/schema/0002_add_users_name.sql"
THEIRS = f"{D}/schema/0002_add_users_created_at.sql"
ROLLBACK = f"{D}/rollback/0002_rollback.sql"


def both_took_0002(consumer: Consumer) -> Path:
    """`feature` pushed 0002 and 0003; then main got its own 0002 (pushed): the report's
    starting point, with the branch checked out again."""
    work = consumer(D)
    git(work, "checkout", "-q", "-b", "feature")
    commit(
        work,
        "user names and emails",
        {
            OURS: "CREATE TABLE user_names (id INTEGER);\n",
            ROLLBACK: "DROP TABLE user_names;\n",
            f"{D}/schema/0003_add_users_email.sql": "CREATE TABLE user_emails (id INTEGER);\n",
            f"{D}/rollback/0003_rollback.sql": "DROP TABLE user_emails;\n",
        },
    )
    done = push(work, "-u", "origin", "feature")
    assert done.returncode == 0, output(done)
    git(work, "checkout", "-q", "main")
    commit(
        work,
        "user creation time",
        {
            THEIRS: "CREATE TABLE user_created (id INTEGER);\n",
            ROLLBACK: "DROP TABLE user_created;\n",
        },
    )
    assert push(work, "--no-verify").returncode == 0
    git(work, "checkout", "-q", "feature")
    return work


def take_mains_lock_and_rollback(work: Path) -> None:
    """The README's resolution of the conflicts: main's lock and main's 0002 rollback."""
    git(work, "checkout", "origin/main", "--", LOCK, ROLLBACK)


def renumber_ours(work: Path) -> None:
    git(work, "mv", OURS, f"{D}/schema/0004_add_users_name.sql")
    write(work, {f"{D}/rollback/0004_rollback.sql": "DROP TABLE user_names;\n"})
    done = run_with_hooks(work, sys.executable, "-m", "ci.checksums", "--update")
    assert done.returncode == 0, output(done)
    git(work, "add", "-A")


def assert_pushed(work: Path, *args: str) -> None:
    done = push(work, *args)
    assert done.returncode == 0, output(done)
    assert "MG108" not in output(done) and "MG202" not in output(done), output(done)
    assert on_remote(work, "feature") == git(work, "rev-parse", "HEAD").strip()


def test_merge_main_renumber_and_push(consumer: Consumer) -> None:
    work = both_took_0002(consumer)
    merging = run_with_hooks(work, "git", "merge", "-q", "--no-edit", "origin/main")
    assert merging.returncode != 0 and LOCK in output(merging)  # the lock conflicts, as designed
    take_mains_lock_and_rollback(work)
    renumber_ours(work)
    # in the middle of the merge: main's 0002 is main's, not new work of this branch
    for base in ("main", "origin/main"):
        done = run_with_hooks(work, sys.executable, "-m", "ci.numbering", "--base-ref", base)
        assert done.returncode == 0, output(done)
    done = run_with_hooks(work, "git", "commit", "-q", "--no-edit")  # the commit hooks run
    assert done.returncode == 0, output(done)
    assert_pushed(work)


def test_rebase_on_main_renumber_and_force_push(consumer: Consumer) -> None:
    work = both_took_0002(consumer)
    rebasing = run_with_hooks(work, "git", "rebase", "origin/main")
    assert rebasing.returncode != 0, output(rebasing)
    take_mains_lock_and_rollback(work)
    renumber_ours(work)
    done = run_with_hooks(work, "git", "-c", "core.editor=true", "rebase", "--continue")
    assert done.returncode == 0, output(done)
    assert_pushed(work, "--force-with-lease")


def test_a_number_left_clashing_after_the_merge_is_refused_naming_the_branchs_file(
    consumer: Consumer,
) -> None:
    work = both_took_0002(consumer)
    run_with_hooks(work, "git", "merge", "-q", "--no-edit", "origin/main")
    take_mains_lock_and_rollback(work)  # not renumbered (--update would refuse the number)
    git(work, "add", "-A")
    git(work, "commit", "-q", "--no-edit", "--no-verify")
    done = push(work)
    assert done.returncode != 0, output(done)
    assert f"{OURS}: MG108" in output(done), output(done)
    assert "To fix: rename it to 0004_add_users_name.sql" in output(done)
    assert "highest on origin/main" in output(done)
    assert f"{THEIRS}: MG1" not in output(done)
    assert "MG202" not in output(done)


def renumbered_onto_its_own_0003(work: Path) -> tuple[str, ...]:
    """The branch's 0002 moved to 0003, a number the branch already uses: the commit hook
    (numbering) and the lock update would both have refused it."""
    git(work, "mv", OURS, f"{D}/schema/0003_add_users_name.sql")
    return (f"{D}/schema/0003_add_users_name.sql: MG101",)


def renumbered_mains_file(work: Path) -> tuple[str, ...]:
    """main's 0002, applied wherever main is deployed, moved to 0004 to make room for the
    branch's: the checksums hook would have refused it (a renamed applied migration)."""
    git(work, "mv", THEIRS, f"{D}/schema/0004_add_users_created_at.sql")
    git(work, "mv", ROLLBACK, f"{D}/rollback/0004_rollback.sql")
    write(work, {ROLLBACK: "DROP TABLE user_names;\n"})
    return (f"{D}/schema/0004_add_users_created_at.sql: MG203",)


@pytest.mark.parametrize("renumber", [renumbered_onto_its_own_0003, renumbered_mains_file])
def test_a_rebase_renumbered_wrongly_is_refused_at_pre_push(
    consumer: Consumer, renumber: Callable[[Path], tuple[str, ...]]
) -> None:
    """git runs no pre-commit hook for the commits `git rebase --continue` makes: what a rebase
    got wrong reaches the branch unchecked. The pre-push hooks judge the pushed commit against
    origin/main and refuse it (docs/hooks.md, "Rebases")."""
    work = both_took_0002(consumer)
    rebasing = run_with_hooks(work, "git", "rebase", "origin/main")
    assert rebasing.returncode != 0, output(rebasing)
    take_mains_lock_and_rollback(work)
    expected = renumber(work)
    git(work, "add", "-A")
    done = run_with_hooks(work, "git", "-c", "core.editor=true", "rebase", "--continue")
    assert done.returncode == 0, output(done)  # no hook ran: the rebase went through
    assert "migration numbering" not in output(done)
    # what docs/hooks.md suggests after a rebase, before any push: the same verdict
    check = run_with_hooks(
        work, sys.executable, "-m", "pre_commit", "run", "--from-ref", "origin/main", "--to-ref",
        "HEAD",
    )  # fmt: skip
    assert check.returncode != 0, output(check)
    before = on_remote(work, "feature")
    done = push(work, "--force-with-lease")
    assert done.returncode != 0, output(done)
    for text in expected:
        assert text in output(check), output(check)
        assert text in output(done), output(done)
    assert on_remote(work, "feature") == before  # the remote kept the branch as it was
