"""The lock works with the user, in real git repositories with a real (bare) remote and real
processes: `ci.new` adds its file to the lock, `--update` refuses a number that is already used,
this branch's own unmerged migrations may be edited (their entry is refreshed, never an MG201),
the suggested fix commands chain with `&&`, and every "To fix" names a command that works where
the check was run (`python -m ci.checksums`, `migration-guard checksums`, the pre-commit hooks).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    FIRST,
    LOCK,
    REPO,
    M,
    clone_of_bare_remote,
    commit_all,
    git,
    output,
    run_in,
    write,
)

INIT = f"{M}/schema/0001_init.sql"
CONSOLE = Path(sys.executable).parent / "migration-guard"


def run(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """A real process; `python -m ...` when the command starts with a module name."""
    if command[0] in ("ci.checksums", "ci.new", "ci.numbering", "hooks.checksums"):
        return run_in(cwd, *command)
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def shell(cwd: Path, line: str) -> subprocess.CompletedProcess[str]:
    """Run a command line as the user would paste it (so `&&` chains are real)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-c", line.replace("python ", f"{shlex.quote(sys.executable)} ")],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "PATH": path},
    )


def fix_of(done: subprocess.CompletedProcess[str], code: str) -> str:
    """The command after "To fix: " in the finding with `code` (up to the closing period)."""
    (line,) = [line for line in done.stdout.splitlines() if f": {code} " in line]
    return line.split("To fix: ", 1)[1].rstrip(".")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A working copy whose `main` (one migration and its lock) is pushed to a bare remote.
    Made with `git init` + `git remote add` + `git push`, so there is no origin/HEAD: the target
    branch is found as origin/main."""
    work = clone_of_bare_remote(tmp_path)
    write(work, FIRST)
    assert run(work, "ci.checksums", "--update").returncode == 0
    commit_all(work, "first migration")
    git(work, "push", "-q", "-u", "origin", "main")
    return work


# ---- ci.new ----------------------------------------------------------------------------------


def test_new_does_not_lock_the_stub_it_writes(clone: Path) -> None:
    """Nothing has applied the stub: locked at creation, the commit of the migration written
    into it would fail MG210. The lock takes it at commit (the lock-update hook, --update)."""
    before = (clone / LOCK).read_bytes()
    done = run(clone, "ci.new", "schema", "add_index")
    assert done.returncode == 0, output(done)
    assert (clone / LOCK).read_bytes() == before
    write(clone, {f"{M}/schema/0002_add_index.sql": "CREATE INDEX t_a ON t (a);\n"})
    done = run(clone, "ci.checksums")
    assert done.returncode == 1 and "0002_add_index.sql: MG204 " in done.stdout, output(done)
    assert "MG210" not in done.stdout
    done = shell(clone, f"{fix_of(done, 'MG204').removeprefix('run ').split(' and ')[0]}")
    assert done.returncode == 0, output(done)
    assert run(clone, "ci.checksums").returncode == 0


def test_new_without_a_lock_creates_none(tmp_path: Path) -> None:
    done = run(tmp_path, "ci.new", "seed", "defaults")
    assert done.returncode == 0, output(done)
    assert not (tmp_path / LOCK).exists()


def test_new_reads_migrations_dir_from_the_config_and_leaves_the_lock(tmp_path: Path) -> None:
    write(tmp_path, {"migration-guard.yaml": "migrations_dir: db/migrations\n"})
    write(tmp_path, {"db/migrations/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n"})
    assert run(tmp_path, "ci.checksums", "--update").returncode == 0
    done = run(tmp_path, "ci.new", "data", "fill")
    assert done.returncode == 0, output(done)
    assert (tmp_path / "db/migrations/data/0002_fill.sql").is_file()
    assert "data/0002_fill.sql" not in (tmp_path / "db/migrations.lock").read_text()


# ---- --update refuses a number in use ---------------------------------------------------------


def test_update_refuses_a_number_that_is_already_used(clone: Path) -> None:
    write(clone, {f"{M}/data/0001_fill.sql": "UPDATE t SET a = 1 WHERE a IS NULL;\n"})
    before = (clone / LOCK).read_bytes()
    done = run(clone, "ci.checksums", "--update")
    assert done.returncode == 2, output(done)
    assert done.stderr.count("\n") == 1, done.stderr
    assert "data/0001_fill.sql" in done.stderr and "schema/0001_init.sql" in done.stderr
    assert "0001" in done.stderr and "used" in done.stderr
    assert (clone / LOCK).read_bytes() == before


def test_two_new_files_with_one_number_are_refused_too(clone: Path) -> None:
    write(
        clone,
        {
            f"{M}/schema/0002_a.sql": "CREATE TABLE a (x INTEGER);\n",
            f"{M}/data/0002_b.sql": "UPDATE t SET a = 2 WHERE a IS NULL;\n",
        },
    )
    before = (clone / LOCK).read_bytes()
    done = run(clone, "ci.checksums", "--update")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, output(done)
    assert "schema/0002_a.sql" in done.stderr and "data/0002_b.sql" in done.stderr
    assert (clone / LOCK).read_bytes() == before


# ---- this branch's own, unmerged migrations ---------------------------------------------------


def test_editing_this_branchs_unmerged_migration_is_not_an_applied_edit(clone: Path) -> None:
    """At commit time there is no --base-ref: the target branch (origin/main) is found, and a
    lock entry of a file that is not on the merge base with it is this branch's own work."""
    git(clone, "checkout", "-q", "-b", "feature")
    assert run(clone, "ci.new", "schema", "wip").returncode == 0  # the stub is not locked
    wip = clone / M / "schema/0002_wip.sql"
    wip.write_text("CREATE TABLE w (a INTEGER);\n")
    write(clone, {f"{M}/rollback/0002_rollback.sql": "DROP TABLE w;\n"})
    assert run(clone, "ci.checksums", "--update").returncode == 0
    wip.write_text("CREATE TABLE w (a INTEGER, c TEXT);\n")  # edited after it was locked
    done = run(clone, "ci.checksums")
    assert done.returncode == 1, output(done)
    assert "MG201" not in done.stdout, done.stdout
    assert f"{M}/schema/0002_wip.sql: MG210 " in done.stdout and "origin/main" in done.stdout
    assert fix_of(done, "MG210") == "python -m ci.checksums --update"
    done = shell(clone, fix_of(done, "MG210"))
    assert done.returncode == 0, output(done)
    assert "refreshed schema/0002_wip.sql" in done.stderr
    commit_all(clone, "wip")
    git(clone, "push", "-q", "-u", "origin", "feature")  # pushed, but not merged

    wip.write_text("CREATE TABLE w (a INTEGER, b TEXT);\n")
    done = run(clone, "ci.checksums")
    assert done.returncode == 1 and "MG210" in done.stdout and "MG201" not in done.stdout
    assert run(clone, "ci.checksums", "--update").returncode == 0
    commit_all(clone, "wip, part 2")

    (clone / INIT).write_text("CREATE TABLE t (b INTEGER);\n")  # merged work is still guarded
    done = run(clone, "ci.checksums", "--update")
    assert done.returncode == 1 and f"{INIT}: MG201 applied migration was edited" in done.stdout
    git(clone, "checkout", "-q", "--", INIT)

    git(clone, "checkout", "-q", "main")  # once merged into the target branch, it is applied
    git(clone, "merge", "-q", "--ff-only", "feature")
    git(clone, "push", "-q", "origin", "main")
    wip.write_text("CREATE TABLE w (a INTEGER, b TEXT, c TEXT);\n")
    done = run(clone, "ci.checksums", "--update")
    assert done.returncode == 1 and "0002_wip.sql: MG201" in done.stdout, output(done)


def test_a_renumbered_unmerged_migration_needs_only_update(clone: Path) -> None:
    git(clone, "checkout", "-q", "-b", "feature")
    write(clone, {f"{M}/schema/0002_mine.sql": "CREATE TABLE m (a INTEGER);\n"})
    assert run(clone, "ci.checksums", "--update").returncode == 0
    commit_all(clone, "mine")
    git(clone, "mv", f"{M}/schema/0002_mine.sql", f"{M}/schema/0003_mine.sql")
    done = run(clone, "ci.checksums")
    assert done.returncode == 1 and "MG210" in done.stdout, output(done)
    assert "MG203" not in done.stdout and "MG202" not in done.stdout
    assert "MG204" not in done.stdout  # one finding for one rename
    done = run(clone, "ci.checksums", "--update")
    assert done.returncode == 0, output(done)
    entries = [line.split()[0] for line in (clone / LOCK).read_text().splitlines()[1:]]
    assert entries == ["schema/0001_init.sql", "schema/0003_mine.sql"]


def test_without_a_remote_committed_files_are_applied_and_new_ones_are_not(
    tmp_path: Path,
) -> None:
    work = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "config", "commit.gpgsign", "false")
    write(work, FIRST)
    assert run(work, "ci.checksums", "--update").returncode == 0
    commit_all(work, "first")
    assert run(work, "ci.new", "schema", "next").returncode == 0
    assert run(work, "ci.checksums", "--update").returncode == 0  # ci.new leaves the lock
    (work / M / "schema/0002_next.sql").write_text("CREATE TABLE n (a INTEGER);\n")
    done = run(work, "ci.checksums")
    assert done.returncode == 1 and "MG210" in done.stdout and "MG201" not in done.stdout
    (work / INIT).write_text("CREATE TABLE t (b INTEGER);\n")
    done = run(work, "ci.checksums")
    assert f"{INIT}: MG201" in done.stdout, output(done)


def test_a_stale_unmerged_entry_fails_with_base_ref_too(clone: Path) -> None:
    """CI compares with the merge base; a stale entry merged into main would turn into an MG201
    for everyone after the merge, so CI must not let it through."""
    git(clone, "checkout", "-q", "-b", "feature")
    write(clone, {f"{M}/schema/0002_mine.sql": "CREATE TABLE m (a INTEGER);\n"})
    assert run(clone, "ci.checksums", "--update").returncode == 0
    (clone / M / "schema/0002_mine.sql").write_text("CREATE TABLE m (b INTEGER);\n")
    commit_all(clone, "mine, lock out of date")
    done = run(clone, "ci.checksums", "--base-ref", "origin/main")
    assert done.returncode == 1 and "0002_mine.sql: MG210" in done.stdout, output(done)
    assert "MG201" not in done.stdout


# ---- the fix commands chain -------------------------------------------------------------------


def test_rehash_then_update_succeeds_as_a_chain(clone: Path) -> None:
    git(clone, "mv", INIT, f"{M}/schema/0001_initial.sql")  # merged: a rename is MG203
    done = run(clone, "ci.checksums")
    assert done.returncode == 1 and "MG203" in done.stdout, output(done)
    chain = (
        "python -m ci.checksums --rehash schema/0001_init.sql && python -m ci.checksums --update"
    )
    assert chain in fix_of(done, "MG203")
    done = shell(clone, chain)
    assert done.returncode == 0, output(done)
    assert run(clone, "ci.checksums").returncode == 0


def test_rehash_alone_exits_0_when_it_wrote_the_entry(clone: Path) -> None:
    (clone / INIT).write_text("-- a comment\nCREATE TABLE t (a INTEGER);\n")
    write(clone, {f"{M}/schema/0002_more.sql": "CREATE TABLE u (a INTEGER);\n"})  # unlocked
    done = run(clone, "ci.checksums", "--rehash", INIT)
    assert done.returncode == 0, output(done)
    assert "entry schema/0001_init.sql rewritten" in done.stderr


# ---- "To fix" is a command that works where the user is ---------------------------------------


def test_fix_commands_match_how_the_check_was_run(clone: Path) -> None:
    write(clone, {f"{M}/schema/0002_more.sql": "CREATE TABLE u (a INTEGER);\n"})
    done = run(clone, "ci.checksums")
    assert "To fix: run python -m ci.checksums --update and commit" in done.stdout, done.stdout
    done = run(clone, str(CONSOLE), "checksums")
    assert "To fix: run migration-guard checksums --update and commit" in done.stdout, done.stdout
    done = run(clone, "hooks.checksums")  # what pre-commit runs
    module = "or, with migration-guard installed in your environment: python -m ci.checksums"
    assert (
        "To fix: run pre-commit run migration-lock-update --hook-stage manual --all-files "
        f"(list `- id: migration-lock-update` in .pre-commit-config.yaml first; {module} "
        "--update) and commit" in done.stdout
    ), done.stdout
    write(clone, {".pre-commit-config.yaml": "# hooks: migration-lock-update\n"})
    done = run(clone, "hooks.checksums")
    expected = (
        "run pre-commit run migration-lock-update --hook-stage manual --all-files "
        f"({module} --update) and commit"
    )
    assert expected in done.stdout, done.stdout


def test_hook_fix_for_a_stale_own_entry_names_the_module_command_too(clone: Path) -> None:
    """MG210 under pre-commit: a user with migration-guard in their own environment runs the
    module; the hook's fix names it (with the location options) beside the hook."""
    write(clone, {f"{M}/schema/0002_more.sql": "CREATE TABLE u (a INTEGER);\n"})
    assert run(clone, "ci.checksums", "--update").returncode == 0
    write(clone, {f"{M}/schema/0002_more.sql": "CREATE TABLE u (a INTEGER, b TEXT);\n"})
    done = run(clone, "hooks.checksums")
    assert done.returncode == 1, output(done)
    fix = fix_of(done, "MG210")
    assert fix.startswith("pre-commit run migration-lock-update --hook-stage manual --all-files ")
    module = fix.split("installed in your environment: ", 1)[1].removesuffix(")")
    assert module == "python -m ci.checksums --update", fix
    assert shell(clone, module).returncode == 0
    assert run(clone, "hooks.checksums").returncode == 0


def test_fix_commands_carry_the_migrations_dir_given_on_the_command_line(tmp_path: Path) -> None:
    write(tmp_path, {"db/m/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n"})
    done = run(tmp_path, "ci.checksums", "--migrations-dir", "db/m")
    assert done.returncode == 1, output(done)
    fix = fix_of(done, "MG206")
    command = "python -m ci.checksums --migrations-dir db/m --update"
    assert fix == f"create it with {command} and commit it"
    done = shell(tmp_path, command)
    assert done.returncode == 0, output(done)
    assert (tmp_path / "db/migrations.lock").is_file()


@pytest.mark.parametrize("command", [["ci.checksums"], [sys.executable, "-m", "ci"]])
def test_fix_commands_leave_out_what_the_config_file_sets(
    tmp_path: Path, command: list[str]
) -> None:
    """The next command reads the same migration-guard.yaml: the hint is what the user types."""
    write(tmp_path, {"migration-guard.yaml": "migrations_dir: db/m\n"})
    write(tmp_path, {"db/m/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n"})
    done = run(tmp_path, *command)
    assert done.returncode == 1, output(done)
    fix = fix_of(done, "MG206")
    assert fix == "create it with python -m ci.checksums --update and commit it", fix
    done = shell(tmp_path, "python -m ci.checksums --update")
    assert done.returncode == 0, output(done)
    assert (tmp_path / "db/migrations.lock").is_file()


def test_the_aggregate_refusing_update_names_the_command_of_the_console(clone: Path) -> None:
    done = run(clone, str(CONSOLE), "check", "--update")
    assert done.returncode == 2
    assert "run migration-guard checksums --update yourself" in done.stderr, done.stderr
    done = run(clone, sys.executable, "-m", "ci", "--update")
    assert "run python -m ci.checksums --update yourself" in done.stderr, done.stderr


def test_console_forms_name_real_subcommands(monkeypatch: pytest.MonkeyPatch) -> None:
    from ci.__main__ import COMMANDS
    from ci.core import fixes

    monkeypatch.setattr(sys, "argv", [str(CONSOLE)])
    for module in ("checksums", "new", "numbering", "apply_empty", "rollback_roundtrip"):
        words = fixes.command(module, "--help").split()
        assert words[0] == "migration-guard" and COMMANDS[words[1]] == f"ci.{module}", words
        done = run(Path.cwd(), str(CONSOLE), *words[1:])
        assert done.returncode == 0, output(done)


# ---- with a database --------------------------------------------------------------------------


def test_a_database_that_ran_the_current_text_leaves_a_stale_entry_mg210(clone: Path) -> None:
    """`ci.new` locks the stub; the migration is written and applied before `--update`. The
    database ran the file as it is, so only the lock is stale: MG210, as without --db, not an
    MG201 whose fixes (git checkout HEAD of a file git lacks, ci.new without arguments) fail."""
    git(clone, "checkout", "-q", "-b", "feature")
    assert run(clone, "ci.new", "schema", "fill").returncode == 0
    assert run(clone, "ci.checksums", "--update").returncode == 0  # the stub, locked
    fill = clone / M / "schema/0002_fill.sql"
    fill.write_text("CREATE TABLE f (a INTEGER);\n")
    write(clone, {f"{M}/rollback/0002_rollback.sql": "DROP TABLE f;\n"})
    done = run(clone, sys.executable, "-m", "ci.migrate", "--db", "app.db")
    assert done.returncode == 0, output(done)
    without_db = run(clone, "ci.checksums")
    assert without_db.returncode == 1 and "0002_fill.sql: MG210 " in without_db.stdout
    done = run(clone, "ci.checksums", "--db", "app.db")
    assert done.returncode == 1, output(done)
    assert "MG201" not in done.stdout, done.stdout
    assert f"{M}/schema/0002_fill.sql: MG210 " in done.stdout, done.stdout
    assert "database app.db ran its current text, so only the lock is stale" in done.stdout
    done = shell(clone, f"{fix_of(done, 'MG210')} && python -m ci.checksums --db app.db")
    assert done.returncode == 0, output(done)

    # the database ran other text: MG201, with fixes that run (git never had this file)
    fill.write_text("CREATE TABLE f (a INTEGER, b TEXT);\n")
    done = run(clone, "ci.checksums", "--db", "app.db")
    assert done.returncode == 1 and f"{M}/schema/0002_fill.sql: MG201 " in done.stdout
    fix = fix_of(done, "MG201")
    assert "git checkout" not in fix, fix
    assert "(python -m ci.new <schema|data|seed> <slug>)" in fix, fix


def test_an_edit_committed_to_head_is_restored_from_the_base_ref(clone: Path) -> None:
    """HEAD already holds the edit (committed without the hooks): restoring from HEAD would do
    nothing, the applied text is on the base ref."""
    git(clone, "checkout", "-q", "-b", "feature")
    (clone / INIT).write_text("CREATE TABLE t (b INTEGER);\n")
    commit_all(clone, "an edit of an applied file")
    done = run(clone, "ci.checksums", "--base-ref", "origin/main")
    assert done.returncode == 1, output(done)
    assert f"git checkout origin/main -- {INIT}" in fix_of(done, "MG201")
    done = run(clone, "ci.checksums")  # the lock alone: HEAD has no applied text either
    assert "git checkout HEAD" not in fix_of(done, "MG201")
    done = shell(clone, f"git checkout origin/main -- {INIT} && python -m ci.checksums")
    assert done.returncode == 0, output(done)
