"""ci.numbering: one passing and one failing tree per finding, real git repos, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci import numbering
from tests.conftest import REPO, TRACKS, M, WriteTree, commit_all, git, run_module

GOOD = {
    **TRACKS,
    f"{M}/schema/0003_idx.sql": "CREATE INDEX t_a ON t (a);\n",
    f"{M}/rollback/0003_idx.sql": "DROP INDEX t_a;\n",
    f"{M}/seed/0002_more.sql": "INSERT OR IGNORE INTO t VALUES (2);\n",
}


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = numbering.main(["--migrations-dir", str(root / M), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def codes(output: str) -> list[str]:
    return [word for line in output.splitlines() for word in line.split() if word[:2] == "MG"]


def test_clean_tree_passes(write_tree: WriteTree, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(write_tree(GOOD), capsys)
    assert code == 0, out
    assert "OK numbering: 1 passed" in out


@pytest.mark.parametrize(
    ("change", "expected", "where"),
    [
        ({f"{M}/schema/0002_dup.sql": "SELECT 1;\n"}, "MG101", "schema/0002_dup.sql"),
        ({f"{M}/seed/0002_dup.sql": "SELECT 1;\n"}, "MG101", "seed/0002_more.sql"),
        ({f"{M}/schema/0005_late.sql": "-- @irreversible x\nSELECT 1;\n"}, "MG102", "0005_late"),
        ({f"{M}/seed/0004_late.sql": "SELECT 1;\n"}, "MG102", "seed/0004_late.sql"),
        ({f"{M}/schema/004_short.sql": ""}, "MG103", "004_short.sql"),
        ({f"{M}/schema/0004_Upper.sql": ""}, "MG103", "0004_Upper.sql"),
        ({f"{M}/schema/0004 space.sql": ""}, "MG103", "0004 space.sql"),
        ({f"{M}/schema/0004_x.txt": ""}, "MG103", "0004_x.txt"),
        ({f"{M}/schema/0004_dir.sql/inner": ""}, "MG103", "0004_dir.sql"),
        ({f"{M}/migrations_old/0004_x.sql": ""}, "MG104", "migrations_old"),
        ({f"{M}/rollback/0009_rollback.sql": ""}, "MG106", "rollback/0009_rollback.sql"),
        ({f"{M}/schema/0004_x.sql": "CREATE TABLE u (a);\n"}, "MG107", "schema/0004_x.sql"),
        ({f"{M}/schema/0004_x.sql": "-- @bogus\nSELECT 1;\n"}, "MG109", "0004_x.sql:1"),
        ({f"{M}/schema/0004_x.sql": b"SELECT '\xff';\n"}, "MG109", "0004_x.sql:1"),
        ({f"{M}/rollback/0003_other.sql": "SELECT 1;\n"}, "MG110", "rollback/0003_other.sql"),
        (
            {f"{M}/schema/0003_idx.sql": "-- note\n-- @Irreversible x\nSELECT 1;\n"},
            "MG112",
            "schema/0003_idx.sql:2",
        ),
    ],
)
def test_each_finding(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str | bytes],
    expected: str,
    where: str,
) -> None:
    code, out = run(write_tree({**GOOD, **change}), capsys)
    assert code == 1, out
    line = next(line for line in out.splitlines() if f" {expected} " in line)
    assert where in line.split(f" {expected} ")[0], line
    assert "To fix:" in line


def test_mismatched_rollback_name_is_a_warning(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = {k: v for k, v in GOOD.items() if "rollback/0003" not in k}
    tree[f"{M}/rollback/0003_old_name.sql"] = "DROP INDEX t_a;\n"
    code, out = run(write_tree(tree), capsys)
    assert code == 0, out
    assert "rollback/0003_old_name.sql: MG111 warning:" in out


def test_irreversible_needs_no_rollback_but_others_do(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = dict(GOOD)
    tree[f"{M}/data/0002_fill.sql"] = "UPDATE t SET a = 1 WHERE a IS NULL;\n"
    code, out = run(write_tree(tree), capsys)
    assert code == 1
    assert codes(out) == ["MG107"]
    assert "rollback/0002_rollback.sql" in out and "@irreversible" in out


def test_a_rollback_file_contradicting_irreversible_names_both(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollback file beside an `@irreversible` migration: the round trip skips it, the runner
    would have run the file; one of the two is wrong, and the finding says which to drop."""
    tree = {**GOOD, f"{M}/schema/0003_idx.sql": "-- @irreversible drops the index\nSELECT 1;\n"}
    code, out = run(write_tree(tree), capsys)
    assert code == 1, out
    assert codes(out) == ["MG112"]
    (line,) = [line for line in out.splitlines() if " MG112 " in line]
    assert f"{M}/schema/0003_idx.sql:1: MG112 " in line, line
    assert "declares `@irreversible` (drops the index), yet rollback/0003_idx.sql exists" in line
    assert "delete rollback/0003_idx.sql; if rollback/0003_idx.sql undoes it, remove" in line


def test_a_directive_past_the_peek_is_still_read(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """numbering peeks at the first 4 KiB of a paired migration; a longer file is read whole."""
    long_comment = "-- why, at length\n" * 400  # 7 KiB of comments before the directive
    text = f"{long_comment}-- @irreversible drops the index\nSELECT 1;\n"
    code, out = run(write_tree({**GOOD, f"{M}/schema/0003_idx.sql": text}), capsys)
    assert code == 1, out
    assert f"{M}/schema/0003_idx.sql:401: MG112 " in out, out


def test_every_finding_in_one_run(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = {
        **GOOD,
        f"{M}/schema/0003_again.sql": "-- @irreversible x\nSELECT 1;\n",
        f"{M}/schema/0007_far.sql": "-- @irreversible x\nSELECT 1;\n",
        f"{M}/schema/7_bad.sql": "",
        f"{M}/rollback/0009_rollback.sql": "",
        f"{M}/data/0008_no_rollback.sql": "UPDATE t SET a = 2 WHERE a = 1;\n",
    }
    code, out = run(write_tree(tree), capsys)
    assert code == 1
    assert sorted(codes(out)) == ["MG101", "MG102", "MG103", "MG106", "MG107"]
    assert "FAILED numbering: 0 passed, 5 failed" in out


def test_duplicate_suggests_next_free_number(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = {**GOOD, f"{M}/schema/0003_zzz.sql": "-- @irreversible x\nSELECT 1;\n"}
    code, out = run(write_tree(tree), capsys)
    assert code == 1
    assert "0003_zzz.sql: MG101 number 0003 is used twice in the main track" in out
    assert "rename it to 0004_zzz.sql" in out


def test_flat_layout_shares_the_main_sequence(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = {**GOOD, f"{M}/0003_zflat.sql": "-- @irreversible x\nSELECT 1;\n"}
    code, out = run(write_tree(tree), capsys)
    assert code == 1
    assert codes(out) == ["MG101"]


def test_symlink_leaving_the_repository(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(GOOD)
    outside = tmp_path / "elsewhere.sql"
    outside.write_text("SELECT 1;\n")
    (root / M / "schema/0004_link.sql").symlink_to(outside)
    code, out = run(root, capsys)
    assert code == 1
    assert "schema/0004_link.sql: MG105" in out


def test_broken_symlink_and_directory_named_sql(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(GOOD)
    (root / M / "schema/0004_gone.sql").symlink_to("missing.sql")
    (root / M / "rollback/0004_rollback.sql").write_text("SELECT 1;\n")
    (root / M / "schema/0005_dir.sql").mkdir()
    code, out = run(root, capsys)
    assert code == 1
    assert "schema/0004_gone.sql: MG109 broken symlink" in out
    assert "schema/0005_dir.sql: MG103 a directory" in out
    assert "Traceback" not in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_a_finding(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({**GOOD, f"{M}/schema/0004_x.sql": "SELECT 1;\n"})
    (root / M / "schema/0004_x.sql").chmod(0)
    code, out = run(root, capsys)
    assert code == 1
    assert "0004_x.sql: MG109" in out and "cannot read" in out


def test_non_utf8_file_name_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "m"
    (root / "schema").mkdir(parents=True)
    (root / "schema" / "0001_init.sql").write_text("-- @irreversible x\nSELECT 1;\n")
    (root / "schema").joinpath(os.fsdecode(b"0002_caf\xe9.sql")).write_text("SELECT 1;\n")
    done = run_module("ci.numbering", "--migrations-dir", str(root))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "MG103" in done.stdout and "0002_caf\\xe9.sql" in done.stdout


def test_missing_directory_exits_2(tmp_path: Path) -> None:
    done = run_module("ci.numbering", "--migrations-dir", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not found" in done.stderr
    assert done.stdout == ""


def test_files_without_migrations_return_at_once(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({**GOOD, f"{M}/schema/0002_dup.sql": "SELECT 1;\n", "README.md": ""})
    assert numbering.main(["--migrations-dir", str(root / M), str(root / "README.md")]) == 0
    assert capsys.readouterr().out == ""
    changed = str(root / M / "seed/0001_defaults.sql")
    assert numbering.main(["--migrations-dir", str(root / M), changed]) == 1  # whole directory


def test_junit_names_file(write_tree: WriteTree, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree({**GOOD, f"{M}/schema/0002_dup.sql": "SELECT 1;\n"})
    junit = root / "out.xml"
    code, _ = run(root, capsys, "--junit", str(junit))
    assert code == 1
    assert 'file="' in junit.read_text() and "0002_dup.sql" in junit.read_text()


# ---- real git repositories ---------------------------------------------------------------------


def _two_branches_adding_0004(git_repo: Path, write_tree: WriteTree) -> Path:
    write_tree(GOOD)
    commit_all(git_repo, "base")
    git(git_repo, "checkout", "-q", "-b", "feature")
    write_tree({f"{M}/schema/0004_feature.sql": "-- @irreversible x\nSELECT 1;\n"})
    commit_all(git_repo, "feature adds 0004")
    git(git_repo, "checkout", "-q", "main")
    write_tree({f"{M}/schema/0004_other.sql": "-- @irreversible y\nSELECT 2;\n"})
    commit_all(git_repo, "main adds 0004")
    return git_repo


def test_base_ref_catches_number_taken_on_target_branch(
    git_repo: Path,
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = _two_branches_adding_0004(git_repo, write_tree)
    git(repo, "checkout", "-q", "feature")
    monkeypatch.chdir(repo)
    code, out = run(Path("."), capsys)
    assert code == 0, out  # alone, the branch is fine
    code, out = run(Path("."), capsys, "--base-ref", "main")
    assert code == 1
    assert (
        "schema/migrations/schema/0004_feature.sql: MG108 new migration 0004 is numbered at or "
        "below 0004, the highest on main" in out
    )
    # behind main, a rename alone would leave a gap (0004 missing here): merge first; git then
    # meets two rollback/0004_rollback.sql files, and main's is kept: the user's text is saved first
    assert (
        "To fix: bring main in first (`git merge main` or `git rebase main`; copy your "
        "rollback/0004_rollback.sql aside before: it will conflict and main's copy is kept; "
        "the lock file conflicts too: take main's and lock your renamed file again), "
        "then rename it to 0005_feature.sql (and its rollback file)" in out
    )


def test_merged_branches_duplicate_is_caught(
    git_repo: Path, write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _two_branches_adding_0004(git_repo, write_tree)
    git(repo, "merge", "-q", "--no-edit", "feature")  # different names: git merges cleanly
    code, out = run(repo, capsys)
    assert code == 1
    assert codes(out) == ["MG101"]
    assert "number 0004 is used twice in the main track" in out


def test_base_ref_that_does_not_exist_exits_2(
    git_repo: Path, write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(GOOD)
    commit_all(git_repo, "base")
    code, out = run(git_repo, capsys, "--base-ref", "origin/nope")
    assert code == 2
    assert out.strip() == (
        "numbering: git ref 'origin/nope' does not exist (fetch it, e.g. git fetch origin)"
    )


def test_base_ref_outside_a_repository_exits_2(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(write_tree(GOOD), capsys, "--base-ref", "main")
    assert code == 2
    assert "not inside a git repository" in out and out.count("\n") == 1


def test_worked_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    if not any((REPO / M).rglob("*.sql")):
        pytest.skip("worked example not committed yet")
    assert numbering.main(["--migrations-dir", str(REPO / M)]) == 0, capsys.readouterr().out


def test_rollback_pairs_with_the_file_that_keeps_the_number(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = {**GOOD, f"{M}/schema/0003_zzz.sql": "CREATE TABLE z (a);\n"}
    code, out = run(write_tree(tree), capsys)
    assert code == 1
    assert codes(out) == ["MG101"]  # 0003_idx keeps rollback/0003_idx.sql: no MG107 for it


def _merged_origin_main_with_the_same_number(tmp_path: Path) -> Path:
    """A clone whose branch `feature` added 0002_aaa while origin/main took 0002 for 0002_zzz;
    origin/main is merged in (git merges the two names cleanly). 0002_aaa sorts first."""
    from tests.conftest import clone_of_bare_remote, write

    work = clone_of_bare_remote(tmp_path)
    write(work, {f"{M}/schema/0001_a.sql": "-- @irreversible x\nSELECT 1;\n"})
    commit_all(work, "base")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "feature")
    write(work, {f"{M}/schema/0002_aaa.sql": "-- @irreversible mine\nSELECT 2;\n"})
    commit_all(work, "feature adds 0002")
    git(work, "checkout", "-q", "main")
    write(work, {f"{M}/schema/0002_zzz.sql": "-- @irreversible theirs\nSELECT 3;\n"})
    commit_all(work, "main adds 0002")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "feature")
    git(work, "merge", "-q", "--no-edit", "origin/main")
    return work


def test_without_base_ref_the_file_new_on_this_branch_is_blamed(tmp_path: Path) -> None:
    """The commit hook passes no --base-ref: which of the two files is this branch's is asked
    of git (the merge base with origin/main), not of the names' order."""
    from tests.conftest import output, run_in

    work = _merged_origin_main_with_the_same_number(tmp_path)
    done = run_in(work, "ci.numbering")
    assert done.returncode == 1, output(done)
    (line,) = [x for x in done.stdout.splitlines() if ": MG101 " in x]
    assert line.startswith(f"{M}/schema/0002_aaa.sql: MG101 "), line
    assert "(also schema/0002_zzz.sql, which is on origin/main; this file is new on this" in line
    assert f"python -m ci.new --renumber {M}/schema/0002_aaa.sql does the renaming" in line


def _behind_origin_main(tmp_path: Path) -> Path:
    """A clone on `feature`, made at 0001; origin/main has since taken 0002 (fetched, not
    merged), and `feature` adds 0003, numbered above origin/main as ci.new numbers it."""
    from tests.conftest import clone_of_bare_remote, write

    work = clone_of_bare_remote(tmp_path)
    write(work, {f"{M}/schema/0001_a.sql": "-- @irreversible x\nSELECT 1;\n"})
    commit_all(work, "base")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "feature")
    git(work, "checkout", "-q", "main")
    write(work, {f"{M}/schema/0002_theirs.sql": "-- @irreversible theirs\nSELECT 2;\n"})
    commit_all(work, "main adds 0002")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "feature")
    write(work, {f"{M}/schema/0003_mine.sql": "-- @irreversible mine\nSELECT 3;\n"})
    return work


def test_a_gap_that_origin_main_fills_says_to_bring_it_in_not_to_renumber(tmp_path: Path) -> None:
    """Renaming 0003 to 0002 (a gap's usual advice) would clash with origin/main's 0002, and the
    push check would then ask for 0003 again: the advice is to bring origin/main in."""
    from tests.conftest import output, run_in

    work = _behind_origin_main(tmp_path)
    done = run_in(work, "ci.numbering")
    assert done.returncode == 1, output(done)
    (line,) = [x for x in done.stdout.splitlines() if ": MG102 " in x]
    assert line.startswith(f"{M}/schema/0003_mine.sql: MG102 gap: 0003 follows 0001"), line
    assert (
        "To fix: the missing number is on origin/main, which this branch does not have yet: "
        "bring it in (`git merge origin/main` or `git rebase origin/main`), which closes the "
        "gap; do not renumber"
    ) in line
    git(work, "merge", "-q", "--no-edit", "origin/main")
    assert run_in(work, "ci.numbering").returncode == 0


def test_a_gap_left_by_a_deleted_file_still_says_restore_it(tmp_path: Path) -> None:
    """0002 was merged here and deleted: not a number this branch lacks from origin/main."""
    from tests.conftest import output, run_in

    work = _behind_origin_main(tmp_path)
    git(work, "merge", "-q", "--no-edit", "origin/main")
    (work / M / "schema" / "0002_theirs.sql").unlink()
    done = run_in(work, "ci.numbering")
    assert done.returncode == 1, output(done)
    (line,) = [x for x in done.stdout.splitlines() if ": MG102 " in x]
    assert "rename it to 0002_mine.sql; if a file was deleted, restore it" in line, line


def test_a_gap_origin_main_fills_only_in_part_keeps_the_renaming_advice(tmp_path: Path) -> None:
    """origin/main has 0002 and the branch adds 0004: after the merge, 0003 would still be
    missing, so bringing origin/main in is not the whole fix (hostile pass)."""
    from tests.conftest import output, run_in, write

    work = _behind_origin_main(tmp_path)
    (work / M / "schema" / "0003_mine.sql").rename(work / M / "schema" / "0004_mine.sql")
    write(work, {})
    done = run_in(work, "ci.numbering")
    assert done.returncode == 1, output(done)
    (line,) = [x for x in done.stdout.splitlines() if ": MG102 " in x]
    assert "rename it to 0002_mine.sql" in line and "bring it in" not in line, line
