"""The hooks at pre-push (PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF), in real git repositories
with real processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import M, WriteTree, commit_locked, git, run_in


def push_env(from_ref: str, to_ref: str) -> dict[str, str]:
    return {"PRE_COMMIT_FROM_REF": from_ref, "PRE_COMMIT_TO_REF": to_ref}


def test_hooks_pass_from_ref_only_to_checks_that_take_a_base_ref(
    repo: Path, write_tree: WriteTree
) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    write_tree(
        {
            f"{M}/schema/0002_more.sql": "CREATE TABLE u (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE u;\n",
        }
    )
    tip = commit_locked(repo, "second migration")
    for hook in ("numbering", "checksums", "apply_empty", "rollback_roundtrip"):
        done = run_in(repo, f"hooks.{hook}", **push_env(base, tip))
        assert done.returncode == 0, (hook, done.stdout + done.stderr)
        assert "unrecognized arguments" not in done.stderr


def test_push_judges_the_pushed_commit_not_the_working_tree(
    repo: Path, write_tree: WriteTree
) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree({f"{M}/schema/0003_gap.sql": "-- @irreversible x\nCREATE TABLE g (a);\n"})
    broken = commit_locked(repo, "a gap in the numbering")
    git(repo, "checkout", "-q", "main")
    write_tree({"README.md": "docs\n"})
    fine = commit_locked(repo, "docs")

    done = run_in(repo, "hooks.numbering", **push_env("main~1", "feature"))  # from main
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{M}/schema/0003_gap.sql: MG102" in done.stdout

    git(repo, "checkout", "-q", "feature")  # the working tree has the gap; main does not
    done = run_in(repo, "hooks.numbering", **push_env("main~1", fine))
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "worktree", "list").count("\n") == 1  # the temporary checkout is gone
    assert git(repo, "rev-parse", "HEAD").strip() == broken


def test_push_without_migration_changes_returns_at_once(repo: Path, write_tree: WriteTree) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / M / "schema/0001_init.sql").write_text("broken in the working tree only (\n")
    git(repo, "add", "-A")
    git(repo, "stash", "-q")
    write_tree({"README.md": "docs\n"})
    tip = commit_locked(repo, "docs")
    git(repo, "stash", "pop", "-q")  # would fail apply_empty if it were judged
    done = run_in(repo, "hooks.apply_empty", **push_env(base, tip))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_hooks_find_a_custom_migrations_dir_from_the_config(
    git_repo: Path, write_tree: WriteTree
) -> None:
    write_tree(
        {
            "migration-guard.yaml": "migrations_dir: db/migrations\n",
            "db/migrations/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n",
            "db/migrations/rollback/0001_rollback.sql": "DROP TABLE t;\n",
        }
    )
    base = commit_locked(git_repo, "first")
    write_tree(
        {
            "db/migrations/schema/0002_bad.sql": "CREATE TABLE u (a INTEGER;\n",
            "db/migrations/rollback/0002_rollback.sql": "DROP TABLE u;\n",
        }
    )
    tip = commit_locked(git_repo, "broken")
    done = run_in(git_repo, "hooks.apply_empty", **push_env(base, tip))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "db/migrations/schema/0002_bad.sql:1: MG301" in done.stdout


def test_lint_hook_lints_the_pushed_commit(repo: Path, write_tree: WriteTree) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    bad = f"{M}/schema/0002_drop.sql"
    write_tree({bad: "DROP TABLE t;\n", f"{M}/rollback/0002_rollback.sql": "SELECT 1;\n"})
    commit_locked(repo, "drop a table")
    git(repo, "checkout", "-q", "main")  # the working tree does not have the file
    done = run_in(repo, "hooks.lint", "--no-sqlfluff", bad, **push_env("main", "feature"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{bad}:1: MG5" in done.stdout


@pytest.mark.parametrize(("from_ref", "to_ref"), [("deadbeef", "HEAD"), ("HEAD", "nope")])
def test_a_ref_git_cannot_find_is_one_line_and_exit_2(
    repo: Path, from_ref: str, to_ref: str
) -> None:
    bad = to_ref if from_ref == "HEAD" else from_ref
    hooks: list[tuple[str, list[str]]] = [("hooks.apply_empty", [])]
    if bad == to_ref:  # lint reads the files at TO_REF only
        hooks.append(("hooks.lint", [f"{M}/schema/0001_init.sql"]))
    for hook, args in hooks:
        done = run_in(repo, hook, *args, **push_env(from_ref, to_ref))
        assert done.returncode == 2, (hook, done.stdout + done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.splitlines()) == 1 and f"'{bad}' does not exist" in done.stderr


def test_judging_the_pushed_commit_runs_none_of_the_repository_hooks(
    repo: Path, write_tree: WriteTree
) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    write_tree({f"{M}/schema/0002_u.sql": "-- @irreversible x\nCREATE TABLE u (a INTEGER);\n"})
    tip = commit_locked(repo, "second")
    marker = repo.parent / "post-checkout-ran"
    hook = repo / ".git/hooks/post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    hook.chmod(0o755)
    done = run_in(repo, "hooks.numbering", **push_env(base, tip))
    assert done.returncode == 0, done.stdout + done.stderr
    assert not marker.exists()  # pre-commit's own post-checkout hook would run again, nested


def test_the_sample_hook_in_a_project_without_sample_data_says_so_and_lets_the_push_go(
    git_repo: Path, write_tree: WriteTree
) -> None:
    """The README's hook list has migration-apply-sample; a new project has no sample yet."""
    write_tree({f"{M}/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n",
                f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;\n"})  # fmt: skip
    base = commit_locked(git_repo, "first")
    write_tree({f"{M}/schema/0002_u.sql": "CREATE TABLE u (a INTEGER);\n",
                f"{M}/rollback/0002_rollback.sql": "DROP TABLE u;\n"})  # fmt: skip
    tip = commit_locked(git_repo, "second")
    done = run_in(git_repo, "hooks.apply_sample", **push_env(base, tip))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "skipped 1 in apply_sample: no sample data (`sample:` in migration-guard.yaml, a .sql "
        "fixture, a .db file or a pg_dump -Fc archive); set one, or leave "
        "migration-apply-sample out of .pre-commit-config.yaml.",
        "OK apply_sample: 0 passed, 1 skipped",
    ]
    direct = run_in(git_repo, "ci.apply_sample")  # typed by hand: the option is missing
    assert direct.returncode == 2 and "--sample PATH is required" in direct.stderr
