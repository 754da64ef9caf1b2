"""`--base-ref REF` compares with the merge base of HEAD and REF (not REF's tip), in real git
repositories with real processes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import M, WriteTree, commit_locked, git, run_in


def test_base_ref_compares_with_the_merge_base(repo: Path, write_tree: WriteTree) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "checkout", "-q", "main")
    write_tree(
        {
            f"{M}/schema/0002_main.sql": "CREATE TABLE m (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE m;\n",
        }
    )
    commit_locked(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")  # behind main: it lacks 0002, it did not delete it
    fork = git(repo, "merge-base", "HEAD", "main").strip()[:7]
    for check in ("checksums", "numbering", "rollback_roundtrip"):
        done = run_in(repo, f"ci.{check}", "--base-ref", "main")
        assert done.returncode == 0, (check, done.stdout + done.stderr)
        assert f"compared with merge base {fork} of HEAD and main" in done.stderr

    # a new migration must still be numbered above main's newest (the tip), not the fork's
    write_tree(
        {
            f"{M}/schema/0002_feature.sql": "CREATE TABLE f (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE f;\n",
        }
    )
    done = run_in(repo, "ci.numbering", "--base-ref", "main")
    assert done.returncode == 1 and "MG108 new migration 0002" in done.stdout, done.stdout


def test_editing_unmerged_work_is_not_an_applied_edit(repo: Path, write_tree: WriteTree) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree(
        {
            f"{M}/schema/0002_wip.sql": "CREATE TABLE w (a INTEGER);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP TABLE w;\n",
        }
    )
    commit_locked(repo, "work in progress, in the lock")
    (repo / M / "schema/0002_wip.sql").write_text("CREATE TABLE w (a INTEGER, b TEXT);\n")
    done = run_in(repo, "ci.checksums", "--base-ref", "main")
    assert "MG201" not in done.stdout, done.stdout
    (repo / M / "schema/0001_init.sql").write_text("CREATE TABLE t (b INTEGER);\n")
    done = run_in(repo, "ci.checksums", "--base-ref", "main")  # merged work is still guarded
    assert done.returncode == 1 and f"{M}/schema/0001_init.sql:1: MG201" in done.stdout


def test_a_shallow_clone_without_the_merge_base_says_how_to_fetch_it(
    repo: Path, write_tree: WriteTree, tmp_path: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write_tree({"README.md": "feature\n"})
    commit_locked(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    write_tree({"NOTES.md": "main\n"})
    commit_locked(repo, "main work")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", repo.as_uri(), str(clone))
    git(clone, "checkout", "-q", "feature")
    done = run_in(clone, "ci.checksums", "--base-ref", "origin/main")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "shallow clone" in done.stderr and "fetch-depth: 0" in done.stderr, done.stderr
