"""Which branch the hooks compare a pushed commit with, and what counts as new work next to
that branch, in real git repositories with a real bare remote and real processes.

The base is `base_ref` (command line or migration-guard.yaml), else the remote's default branch
(`<remote>/HEAD`, else `<remote>/main` or `/master`), else the remote's previous tip of the
pushed branch (PRE_COMMIT_FROM_REF), with a note. numbering's MG108 names the base it used.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ci.core import gitrefs
from tests.conftest import M, WriteTree, commit_locked, git, run_in

OURS = f"{M}/schema/0002_ours.sql"


def migration(name: str, table: str) -> dict[str, str]:
    return {f"{M}/schema/{name}": f"-- @irreversible test\nCREATE TABLE {table} (a INTEGER);\n"}


@pytest.fixture
def pushed(repo: Path, write_tree: WriteTree, tmp_path: Path) -> tuple[Path, str]:
    """(repo on `feature` with its own 0002 committed, that commit). The bare remote `origin`
    has `main` and `develop`, each with another 0002 (each with a different name); the clone
    has no origin/HEAD (the remote was added, not cloned)."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree(migration("0002_ours.sql", "o"))
    ours = commit_locked(repo, "ours")
    for branch in ("main", "develop"):
        git(repo, "checkout", "-q", "-b", f"{branch}-work", "main")
        write_tree(migration(f"0002_on_{branch}.sql", branch))
        commit_locked(repo, branch)
        git(repo, "push", "-q", "origin", f"HEAD:{branch}")
    git(repo, "checkout", "-q", "feature")
    return repo, ours


def numbering_at_push(repo: Path, to_ref: str, **env: str) -> tuple[int, str, str]:
    done = run_in(
        repo,
        "hooks.numbering",
        PRE_COMMIT_FROM_REF=env.pop("from_ref", "0" * 40),  # a new branch
        PRE_COMMIT_TO_REF=to_ref,
        **env,
    )
    return done.returncode, done.stdout, done.stderr


def test_without_origin_head_the_base_is_origin_main(pushed: tuple[Path, str]) -> None:
    repo, ours = pushed
    code, out, _ = numbering_at_push(repo, ours)
    assert code == 1
    assert f"{OURS}: MG108" in out and "highest on origin/main " in out, out


def test_origin_head_names_the_default_branch(pushed: tuple[Path, str]) -> None:
    repo, ours = pushed
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop")
    code, out, _ = numbering_at_push(repo, ours)
    assert code == 1 and "highest on origin/develop " in out, out


def test_a_dangling_origin_head_falls_back_to_origin_main(pushed: tuple[Path, str]) -> None:
    repo, _ = pushed
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/gone")
    assert gitrefs.default_branch(repo, ["origin"]) == "origin/main"


def test_the_pushed_remote_comes_first(pushed: tuple[Path, str], tmp_path: Path) -> None:
    repo, ours = pushed
    git(repo, "remote", "add", "upstream", str(tmp_path / "remote.git"))
    git(repo, "fetch", "-q", "upstream")
    git(repo, "symbolic-ref", "refs/remotes/upstream/HEAD", "refs/remotes/upstream/develop")
    code, out, _ = numbering_at_push(repo, ours, PRE_COMMIT_REMOTE_NAME="upstream")
    assert code == 1 and "highest on upstream/develop " in out, out


def test_base_ref_in_the_config_wins(pushed: tuple[Path, str], write_tree: WriteTree) -> None:
    repo, _ = pushed
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    write_tree({"migration-guard.yaml": "base_ref: origin/develop\n"})
    with_config = commit_locked(repo, "config")  # the hooks read the config of the pushed commit
    code, out, _ = numbering_at_push(repo, with_config)
    assert code == 1 and "highest on origin/develop " in out, out


def test_without_a_remote_branch_the_previous_push_is_the_base_with_a_note(
    pushed: tuple[Path, str], write_tree: WriteTree
) -> None:
    repo, ours = pushed
    git(repo, "remote", "remove", "origin")
    write_tree(migration("0003_more.sql", "m"))
    tip = commit_locked(repo, "more")
    code, out, err = numbering_at_push(repo, tip, from_ref=ours)
    assert code == 0, out + err
    assert f"comparing with the remote's previous tip {ours[:7]}" in err
    assert "set base_ref in migration-guard.yaml" in err


def test_the_branchs_previous_push_is_not_applied_once_main_is_the_base(
    pushed: tuple[Path, str], write_tree: WriteTree
) -> None:
    """The branch pushed 0002_ours, then renamed it: nothing applied it, so no MG202/MG203."""
    repo, ours = pushed
    git(repo, "merge", "-q", "--no-edit", "-s", "ours", "origin/main")
    git(repo, "checkout", "origin/main", "--", f"{M}/schema/0002_on_main.sql", f"{M}.lock")
    git(repo, "mv", OURS, f"{M}/schema/0003_ours.sql")  # main took 0002
    tip = commit_locked(repo, "renumbered after main")
    done = run_in(repo, "hooks.checksums", PRE_COMMIT_FROM_REF=ours, PRE_COMMIT_TO_REF=tip)
    assert done.returncode == 0, done.stdout + done.stderr


def test_in_the_middle_of_a_merge_mains_file_is_mains(repo: Path, write_tree: WriteTree) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree(migration("0002_ours.sql", "o"))
    commit_locked(repo, "ours")
    git(repo, "checkout", "-q", "main")
    write_tree(migration("0002_theirs.sql", "t"))
    commit_locked(repo, "theirs")
    git(repo, "checkout", "-q", "feature")
    merging = subprocess.run(["git", "merge", "-q", "--no-edit", "main"], cwd=repo, check=False)
    assert merging.returncode != 0  # the lock conflicts
    git(repo, "checkout", "main", "--", f"{M}.lock")
    done = run_in(repo, "ci.numbering", "--base-ref", "main")
    assert done.returncode == 1
    assert f"{OURS}: MG108" in done.stdout and "0002_theirs.sql: MG1" not in done.stdout
    git(repo, "mv", OURS, f"{M}/schema/0003_ours.sql")
    done = run_in(repo, "ci.numbering", "--base-ref", "main")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_file_named_as_on_main_but_written_here_is_new(repo: Path, write_tree: WriteTree) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "checkout", "-q", "main")
    write_tree(migration("0002_same.sql", "main_table"))
    commit_locked(repo, "main's 0002")
    git(repo, "checkout", "-q", "feature")
    write_tree(migration("0002_same.sql", "our_table"))  # same name, other statements
    done = run_in(repo, "ci.numbering", "--base-ref", "main")
    assert f"{M}/schema/0002_same.sql: MG108" in done.stdout, done.stdout + done.stderr


def test_the_rollback_of_the_clashing_number_stays_with_mains_file(
    repo: Path, write_tree: WriteTree
) -> None:
    """Both sides wrote rollback/0002_rollback.sql; the user took main's. Only the branch's own
    0002 is named (MG108), not main's 0002 as lacking a rollback, and the advice leaves main's
    rollback file alone."""
    rollback = f"{M}/rollback/0002_rollback.sql"
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree({f"{M}/schema/0002_ours.sql": "CREATE TABLE o (a);\n", rollback: "DROP TABLE o;\n"})
    commit_locked(repo, "ours")
    git(repo, "checkout", "-q", "main")
    write_tree(
        {f"{M}/schema/0002_theirs.sql": "CREATE TABLE t (a);\n", rollback: "DROP TABLE t;\n"}
    )
    commit_locked(repo, "theirs")
    git(repo, "checkout", "-q", "feature")
    subprocess.run(["git", "merge", "-q", "--no-edit", "main"], cwd=repo, check=False)
    git(repo, "checkout", "main", "--", f"{M}.lock", rollback)
    done = run_in(repo, "ci.numbering", "--base-ref", "main")
    assert done.returncode == 1
    assert f"{OURS}: MG108" in done.stdout and "0002_theirs.sql: MG" not in done.stdout, done.stdout
    assert (
        "rename it to 0003_ours.sql, with its own rollback file rollback/0003_rollback.sql "
        "(rollback/0002_rollback.sql undoes 0002_theirs.sql)"
    ) in done.stdout
    assert "in first" not in done.stdout  # main is merged already
