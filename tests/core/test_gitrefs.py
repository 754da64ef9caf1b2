"""ci.core.gitrefs: the migrations directory at a ref, from real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.core import gitrefs
from tests.conftest import M, WriteTree, git


@pytest.fixture
def repo(git_repo: Path, write_tree: WriteTree) -> Path:
    write_tree(
        {
            f"{M}/schema/0001_init.sql": "CREATE TABLE t (a);\n",
            f"{M}/seed/0001_s.sql": b"INSERT OR IGNORE INTO t VALUES (1);\r\n",
            "README.md": "top\n",
        }
    )
    (git_repo / M / "schema/0002_link.sql").symlink_to("0001_init.sql")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "one")
    return git_repo


def test_list_files_relative_to_directory(repo: Path) -> None:
    files = gitrefs.list_files("HEAD", repo / M)
    assert sorted(files) == ["schema/0001_init.sql", "seed/0001_s.sql"]  # the link is not a file
    assert all(len(blob) == 40 for blob in files.values())


def test_files_at_reads_exact_bytes(repo: Path) -> None:
    (repo / M / "schema/0001_init.sql").write_text("changed in the working tree\n")
    files = gitrefs.files_at("HEAD", repo / M)
    assert files == {
        "schema/0001_init.sql": b"CREATE TABLE t (a);\n",
        "seed/0001_s.sql": b"INSERT OR IGNORE INTO t VALUES (1);\r\n",
    }
    assert gitrefs.files_at("HEAD", repo / M, only=["seed/0001_s.sql"]) == {
        "seed/0001_s.sql": b"INSERT OR IGNORE INTO t VALUES (1);\r\n"
    }


def test_relative_directory_and_subdirectory_cwd(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "schema")
    assert sorted(gitrefs.list_files("HEAD", Path("migrations"))) == [
        "schema/0001_init.sql",
        "seed/0001_s.sql",
    ]


def test_directory_missing_at_ref_is_empty(repo: Path, write_tree: WriteTree) -> None:
    write_tree({"other/0001_x.sql": "SELECT 1;\n"})
    assert gitrefs.files_at("HEAD", repo / "other") == {}


def test_many_blobs_one_process(repo: Path, write_tree: WriteTree) -> None:
    write_tree({f"{M}/schema/{n:04d}_x.sql": f"SELECT {n};\n" * n for n in range(3, 300)})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "many")
    files = gitrefs.files_at("HEAD", repo / M)
    assert files[f"{M[:0]}schema/0299_x.sql"] == b"SELECT 299;\n" * 299
    assert len(files) == 299


def test_bad_ref_and_no_repository(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(gitrefs.RefError, match="git ref 'nope' does not exist"):
        gitrefs.list_files("nope", repo / M)
    with pytest.raises(gitrefs.RefError, match="is not a git ref"):
        gitrefs.resolve_ref("--output=x", repo)
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(gitrefs.RefError, match="not inside a git repository"):
        gitrefs.list_files("HEAD", outside)


def test_resolve_ref_and_export(repo: Path, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    assert gitrefs.resolve_ref("main", repo) == head
    out = gitrefs.export_tree("HEAD", repo / M, tmp_path / "export")
    assert (out / "schema/0001_init.sql").read_bytes() == b"CREATE TABLE t (a);\n"


def test_hook_refs() -> None:
    assert gitrefs.hook_refs({}) == (None, None)
    assert gitrefs.hook_refs({"PRE_COMMIT_FROM_REF": "abc", "PRE_COMMIT_TO_REF": "def"}) == (
        "abc",
        "def",
    )
    assert gitrefs.hook_refs({"PRE_COMMIT_FROM_REF": "0" * 40, "PRE_COMMIT_TO_REF": "d"}) == (
        None,
        "d",
    )


def test_a_push_of_the_root_commit_names_only_the_local_ref() -> None:
    first_push = {"PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main"}  # no FROM/TO: pre-commit's way
    assert gitrefs.hook_refs(first_push) == (None, "refs/heads/main")
    both = {**first_push, "PRE_COMMIT_FROM_REF": "a", "PRE_COMMIT_TO_REF": "b"}
    assert gitrefs.hook_refs(both) == ("a", "b")
