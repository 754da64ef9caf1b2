"""ci.new: the next free number in the right track, header, rollback stub, bad slugs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import lint, new, numbering
from ci.core.model import SqlFile
from tests.conftest import (
    M,
    WriteTree,
    clone_of_bare_remote,
    commit_all,
    git,
    output,
    run_in,
    run_module,
    run_with_hooks,
    write,
)


def test_next_main_number_spans_schema_data_and_flat(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            f"{M}/schema/0001_init.sql": "CREATE TABLE t (a);\n",
            f"{M}/data/0002_fill.sql": "UPDATE t SET a = 1 WHERE a IS NULL;\n",
            f"{M}/0003_flat.sql": "SELECT 1;\n",
            f"{M}/seed/0001_defaults.sql": "INSERT OR IGNORE INTO t VALUES (1);\n",
        }
    )
    assert new.main(["schema", "add_index", "--migrations-dir", str(root / M)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        str(root / M / "schema/0004_add_index.sql"),
        str(root / M / "rollback/0004_rollback.sql"),
    ]
    assert new.main(["data", "backfill", "--migrations-dir", str(root / M)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("data/0005_backfill.sql")
    assert new.main(["seed", "alarms", "--migrations-dir", str(root / M)]) == 0
    assert capsys.readouterr().out.splitlines() == [str(root / M / "seed/0002_alarms.sql")]


def test_created_files_parse_and_pass_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "fresh" / "migrations"  # created on demand
    assert new.main(["data", "first", "--migrations-dir", str(root)]) == 0
    created = root / "data/0001_first.sql"
    text = created.read_text()
    assert text.startswith("-- 0001_first.sql: ")
    assert '"-- @batch 10000"' in text  # directive hints are commented out...
    assert SqlFile(created).directives == SqlFile(root / "rollback/0001_rollback.sql").directives
    assert SqlFile(created).directives.batch is None  # ...so none is active
    capsys.readouterr()
    assert numbering.main(["--migrations-dir", str(root)]) == 0, capsys.readouterr().out


def test_untouched_stubs_pass_lint_and_the_rollback_says_what_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newcomer's commit of fresh stubs was refused for a trailing blank line (LT12)."""
    root = tmp_path / "migrations"
    assert new.main(["schema", "first", "--migrations-dir", str(root)]) == 0
    capsys.readouterr()
    assert lint.main(["--migrations-dir", str(root), "--all"]) == 0, capsys.readouterr().out
    stub = (root / "rollback/0001_rollback.sql").read_text()
    assert "fails (MG402)" in stub and "@irreversible <reason>' in the migration" in stub


def test_keeps_wider_numbers(write_tree: WriteTree, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree({f"{M}/schema/00041_x.sql": "SELECT 1;\n"})
    assert new.main(["schema", "y", "--migrations-dir", str(root / M)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("schema/00042_y.sql")


@pytest.mark.parametrize("slug", ["Add-Index", "with space", "", "ünicode", "a.sql"])
def test_bad_slug_exits_2_with_one_line(tmp_path: Path, slug: str) -> None:
    done = run_module("ci.new", "schema", slug, "--migrations-dir", str(tmp_path / "m"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "bad slug" in done.stderr
    assert not (tmp_path / "m").exists()


def test_unknown_kind_and_existing_rollback(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        new.main(["rollback", "x"])
    assert exit_.value.code == 2
    root = write_tree(
        {
            f"{M}/schema/0001_init.sql": "CREATE TABLE t (a);\n",
            f"{M}/rollback/0002_rollback.sql": "left over\n",
        }
    )
    capsys.readouterr()
    assert new.main(["schema", "x", "--migrations-dir", str(root / M)]) == 2
    assert "0002_rollback.sql: already exists" in capsys.readouterr().err
    assert not (root / M / "schema/0002_x.sql").exists()


def test_migrations_dir_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    assert new.main(["schema", "x", "--migrations-dir", str(tmp_path / "file")]) == 2
    assert "cannot create" in capsys.readouterr().err


def test_same_slug_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "m"
    assert new.main(["schema", "add_index", "--migrations-dir", str(root)]) == 0
    capsys.readouterr()
    assert new.main(["schema", "add_index", "--migrations-dir", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0001_add_index.sql: the newest migration is already" in err
    created = sorted(p.name for p in root.rglob("*.sql"))
    assert created == ["0001_add_index.sql", "0001_rollback.sql"]
    assert new.main(["data", "add_index_backfill", "--migrations-dir", str(root)]) == 0
    assert new.main(["seed", "add_index", "--migrations-dir", str(root)]) == 0  # its own track


# ---- the base ref: a branch behind origin/main does not reuse its numbers -------------------


def _behind_origin_main(tmp_path: Path) -> Path:
    """A working copy whose branch `feature` forked at 0002, while origin/main has 0003 and
    seed 0001 (pushed from main after the fork)."""
    work = clone_of_bare_remote(tmp_path)
    write(work, {f"{M}/schema/0001_a.sql": "SELECT 1;\n", f"{M}/schema/0002_b.sql": "SELECT 2;\n"})
    commit_all(work, "base")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "feature")
    git(work, "checkout", "-q", "main")
    write(work, {f"{M}/data/0003_c.sql": "SELECT 3;\n", f"{M}/seed/0001_s.sql": "SELECT 4;\n"})
    commit_all(work, "main moves on")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "feature")
    return work


def test_numbers_above_the_remote_default_branch(tmp_path: Path) -> None:
    work = _behind_origin_main(tmp_path)
    done = run_in(work, "ci.new", "schema", "d")
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines()[0] == f"{M}/schema/0004_d.sql"  # not origin/main's 0003
    assert done.stderr.splitlines() == [
        "new: numbered above origin/main (highest there: 0003) and the local files (highest: 0002)",
        # said before the commit hook's MG102 does (a newcomer met the gap there first)
        "new: origin/main has migrations this branch does not: bring it in before you commit "
        "(git merge origin/main, or git rebase origin/main), or the numbering check reports the "
        "gap",
    ]
    done = run_in(work, "ci.new", "seed", "t")  # seeds: their own track on the ref too
    assert done.stdout.splitlines() == [f"{M}/seed/0002_t.sql"], output(done)


def test_a_branch_with_its_own_higher_number_still_hears_it_lacks_one(tmp_path: Path) -> None:
    """The branch has its own 0004 but not origin/main's 0003: the highest here is not below
    the ref's, yet a number is missing (the hostile tester's diverged branch)."""
    work = _behind_origin_main(tmp_path)
    write(work, {f"{M}/schema/0004_mine.sql": "SELECT 5;\n"})
    commit_all(work, "mine")
    done = run_in(work, "ci.new", "schema", "d")
    assert done.stdout.splitlines()[0] == f"{M}/schema/0005_d.sql", output(done)
    assert "new: origin/main has migrations this branch does not: bring it in" in done.stderr
    git(work, "merge", "-q", "--no-edit", "origin/main")  # in: nothing missing, nothing said
    done = run_in(work, "ci.new", "data", "e")
    assert "has migrations this branch does not" not in done.stderr, output(done)


def test_base_ref_option_and_config_key_name_the_ref(tmp_path: Path) -> None:
    work = _behind_origin_main(tmp_path)
    git(work, "branch", "-q", "other", "feature")  # has only 0001 and 0002
    done = run_in(work, "ci.new", "schema", "d", "--base-ref", "other")
    assert done.stdout.splitlines()[0] == f"{M}/schema/0003_d.sql", output(done)
    assert "numbered above other (highest there: 0002)" in done.stderr
    write(work, {"migration-guard.yaml": "base_ref: main\n"})
    done = run_in(work, "ci.new", "data", "e")
    assert done.stdout.splitlines()[0] == f"{M}/data/0004_e.sql", output(done)
    assert "numbered above main (highest there: 0003)" in done.stderr


def test_a_missing_ref_or_git_falls_back_to_the_local_files(tmp_path: Path) -> None:
    work = _behind_origin_main(tmp_path)
    done = run_in(work, "ci.new", "schema", "d", "--base-ref", "origin/nope")
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines()[0] == f"{M}/schema/0003_d.sql"
    assert done.stderr.splitlines() == [
        "new: git ref 'origin/nope' does not exist (fetch it, e.g. git fetch origin): numbered "
        "from the local files only"
    ]
    no_git = tmp_path / "bin"  # a PATH without git
    no_git.mkdir()
    done = run_in(work, "ci.new", "schema", "e", "--base-ref", "main", PATH=str(no_git))
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines()[0] == f"{M}/schema/0004_e.sql"
    assert done.stderr.splitlines() == [
        "new: git is not installed (needed for --base-ref): numbered from the local files only"
    ]


def test_outside_a_repository_says_the_local_files_decide(tmp_path: Path) -> None:
    done = run_module("ci.new", "schema", "a", "--migrations-dir", str(tmp_path / "m"))
    assert done.returncode == 0, output(done)
    assert done.stderr.splitlines() == [
        f"new: {tmp_path / 'm'}: not inside a git repository, so no branch was read: numbered "
        "from the local files only"
    ]


LOOKED_FOR = "origin/HEAD, origin/main, origin/master, main or master"


@pytest.mark.parametrize("remote", [False, True], ids=["git_init", "clone_of_an_empty_remote"])
def test_a_repository_with_no_commit_yet_is_one(tmp_path: Path, remote: bool) -> None:
    """`git init` (or a clone of a remote nobody pushed to yet), then ci.new: the first
    migration, and one line saying what git lacks, never that there is no repository."""
    if remote:
        work = clone_of_bare_remote(tmp_path)
    else:
        work = tmp_path / "work"
        git(tmp_path, "init", "-q", "-b", "main", str(work))
    done = run_in(work, "ci.new", "schema", "init")
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines() == [
        f"{M}/schema/0001_init.sql",
        f"{M}/rollback/0001_rollback.sql",
    ]
    assert done.stderr.splitlines() == [
        f"new: the git repository at {work.resolve()} has no commit yet and no {LOOKED_FOR}: "
        "numbered from the local files only"
    ]
    done = run_in(work, "ci.new", "data", "fill")  # the local files number the next one
    assert done.stdout.splitlines()[0] == f"{M}/data/0002_fill.sql", output(done)


def test_a_repository_without_the_branches_looked_for_says_so(tmp_path: Path) -> None:
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "trunk", str(work))
    git(work, "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", "first")
    done = run_in(work, "ci.new", "schema", "init")
    assert done.returncode == 0, output(done)
    assert done.stderr.splitlines() == [
        f"new: no branch to number after: no {LOOKED_FOR} in {work.resolve()}; --base-ref REF "
        "names one: numbered from the local files only"
    ]


# ---- --renumber: the branch's migration moves when origin/main took its number --------------


def _taken_by_origin_main(tmp_path: Path) -> Path:
    """`feature` added 0002_mine (locked, with its rollback); origin/main then took 0002."""
    work = clone_of_bare_remote(tmp_path)
    write(work, {f"{M}/schema/0001_a.sql": "CREATE TABLE a (x INTEGER);\n"})
    write(work, {f"{M}/rollback/0001_rollback.sql": "DROP TABLE a;\n"})
    assert run_in(work, "ci.checksums", "--update").returncode == 0
    commit_all(work, "base")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "feature")
    write(work, {f"{M}/schema/0002_mine.sql": "CREATE TABLE m (x INTEGER);\n"})
    write(work, {f"{M}/rollback/0002_rollback.sql": "DROP TABLE m;\n"})
    assert run_in(work, "ci.checksums", "--update").returncode == 0
    commit_all(work, "mine")
    git(work, "checkout", "-q", "main")
    write(work, {f"{M}/schema/0002_theirs.sql": "CREATE TABLE t (x INTEGER);\n"})
    write(work, {f"{M}/rollback/0002_rollback.sql": "DROP TABLE t;\n"})
    assert run_in(work, "ci.checksums", "--update").returncode == 0
    commit_all(work, "theirs")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "feature")
    return work


def test_renumber_moves_the_migration_its_rollback_and_its_lock_entry(tmp_path: Path) -> None:
    work = _taken_by_origin_main(tmp_path)
    done = run_in(work, "ci.numbering", "--base-ref", "origin/main")
    assert done.returncode == 1 and "MG108" in done.stdout, output(done)
    assert f"python -m ci.new --renumber {M}/schema/0002_mine.sql" in done.stdout
    done = run_in(work, "ci.new", "--renumber", f"{M}/schema/0002_mine.sql")
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines() == [
        f"{M}/schema/0002_mine.sql -> {M}/schema/0003_mine.sql",
        f"{M}/rollback/0002_rollback.sql -> {M}/rollback/0003_rollback.sql",
    ]
    lock = (work / "schema/migrations.lock").read_text()
    assert "schema/0003_mine.sql" in lock and "0002_mine" not in lock
    assert (work / M / "rollback/0003_rollback.sql").read_text() == "DROP TABLE m;\n"
    done = run_in(work, "ci.numbering", "--base-ref", "origin/main")
    assert "MG108" not in done.stdout, output(done)  # the gap (0002) closes with the merge
    assert run_in(work, "ci.checksums").returncode == 0


def test_renumber_refuses_a_merged_migration_and_moves_nothing(tmp_path: Path) -> None:
    work = _taken_by_origin_main(tmp_path)
    done = run_in(work, "ci.new", "--renumber", f"{M}/schema/0001_a.sql")
    assert done.returncode == 2 and "already merged" in done.stderr, output(done)
    assert len([line for line in done.stderr.splitlines() if line.startswith("new:")]) == 1
    assert (work / M / "schema/0001_a.sql").is_file()


def _mains_rollback_kept(work: Path, *sync: str) -> None:
    """`git merge` / `git rebase` origin/main stops on the rollback and the lock (both sides
    wrote them); resolved, as the README says, by keeping main's."""
    assert run_with_hooks(work, "git", *sync).returncode != 0  # the conflict
    rollback, lock = f"{M}/rollback/0002_rollback.sql", "schema/migrations.lock"
    git(work, "checkout", "origin/main", "--", rollback, lock)


@pytest.mark.parametrize("sync", [("merge", "origin/main"), ("rebase", "origin/main")])
def test_renumber_while_syncing_leaves_mains_rollback_in_place(
    tmp_path: Path, sync: tuple[str, ...]
) -> None:
    work = _taken_by_origin_main(tmp_path)
    _mains_rollback_kept(work, *sync)
    done = run_in(work, "ci.new", "--renumber", f"{M}/schema/0002_mine.sql")
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines() == [f"{M}/schema/0002_mine.sql -> {M}/schema/0003_mine.sql"]
    assert "rollback/0002_rollback.sql is merged: it undoes the other 0002" in done.stderr
    assert (work / M / "rollback/0002_rollback.sql").read_text() == "DROP TABLE t;\n"
    assert not (work / M / "rollback/0003_rollback.sql").exists()


def test_renumber_and_kind_do_not_go_together(tmp_path: Path) -> None:
    done = run_in(tmp_path, "ci.new", "schema", "x", "--renumber", "f.sql")
    assert done.returncode == 2 and "--renumber FILE alone" in done.stderr, output(done)
    done = run_in(tmp_path, "ci.new", "schema")
    assert done.returncode == 2 and "give KIND SLUG" in done.stderr, output(done)


# ---- templates per engine -------------------------------------------------------------------


def test_templates_follow_the_project_engine(tmp_path: Path) -> None:
    write(tmp_path, {"migration-guard.yaml": "engine: postgresql\n"})
    for kind, slug in (("schema", "add_x"), ("data", "fill_x"), ("seed", "defaults")):
        assert run_in(tmp_path, "ci.new", kind, slug).returncode == 0
    schema = (tmp_path / M / "schema/0001_add_x.sql").read_text()
    data = (tmp_path / M / "data/0002_fill_x.sql").read_text()
    seed = (tmp_path / M / "seed/0001_defaults.sql").read_text()
    assert "VACUUM" not in schema and "CREATE INDEX CONCURRENTLY" in schema
    assert "@batch" not in data  # SQLite's only for now
    assert "INSERT OR IGNORE" not in seed and "ON CONFLICT DO NOTHING" in seed


def test_sqlite_templates_keep_their_advice(tmp_path: Path) -> None:
    assert run_in(tmp_path, "ci.new", "schema", "add_x").returncode == 0
    assert run_in(tmp_path, "ci.new", "seed", "defaults").returncode == 0
    assert "VACUUM" in (tmp_path / M / "schema/0001_add_x.sql").read_text()
    assert "INSERT OR IGNORE" in (tmp_path / M / "seed/0001_defaults.sql").read_text()
