"""End to end, as a team adopts the hooks: a consumer repository with a bare remote, the six hooks
installed by `pre-commit install --hook-type pre-commit --hook-type pre-push` from this checkout,
and real `git commit` / `git push`.

The hook repository is this checkout at HEAD (as in tests/test_precommit.py): pre-commit builds
the hook environment once per test session (PRE_COMMIT_HOME is per session, see conftest), so the
hooks tested are the committed ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, git

M = "schema/migrations"
TIMEOUT = 600  # the first push installs the hook environment (pip, sqlfluff)
HOOK_IDS = (
    "migration-numbering",
    "migration-checksums",
    "migration-lint",
    "migration-apply-empty",
    "migration-apply-sample",
    "migration-rollback",
)
SAMPLE = "-- @sample-version 1\nINSERT INTO patients (id, name) VALUES (1, 'a');\n"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def migration(number: int, slug: str, sql: str, undo: str, root: str = M) -> dict[str, str]:
    return {
        f"{root}/schema/{number:04d}_{slug}.sql": sql,
        f"{root}/rollback/{number:04d}_rollback.sql": undo,
    }


def commit(work: Path, message: str, files: dict[str, str], *, verify: bool = True) -> None:
    """Write files, update the lock, commit (the pre-commit hooks run unless `verify` is off)."""
    write(work, files)
    done = run(work, sys.executable, "-m", "ci.checksums", "--update", *_dir_option(work))
    assert done.returncode == 0, output(done)
    git(work, "add", "-A")
    done = run(work, "git", "commit", "-q", "-m", message, *([] if verify else ["--no-verify"]))
    assert done.returncode == 0, output(done)


def _dir_option(work: Path) -> list[str]:
    config = work / "migration-guard.yaml"
    return ["--config", str(config)] if config.is_file() else []


@pytest.fixture(scope="session")
def hook_rev() -> str:
    return git(REPO, "rev-parse", "HEAD").strip()


Consumer = Callable[..., Path]


@pytest.fixture
def consumer(tmp_path: Path, hook_rev: str, monkeypatch: pytest.MonkeyPatch) -> Consumer:
    """make(migrations_dir=M) -> a clone of a bare remote whose main has one migration, the
    lock, sample data and the six hooks installed (the setup itself is pushed unchecked)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # `python -m ci.checksums --update` for the lock

    def make(migrations_dir: str = M) -> Path:
        remote, work = tmp_path / "remote.git", tmp_path / "work"
        git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
        git(tmp_path, "init", "-q", "-b", "main", str(work))
        git(work, "config", "commit.gpgsign", "false")
        git(work, "remote", "add", "origin", str(remote))
        hooks = "".join(f"      - id: {hook_id}\n" for hook_id in HOOK_IDS)
        files = {
            ".pre-commit-config.yaml": (
                f"repos:\n  - repo: {REPO}\n    rev: {hook_rev}\n    hooks:\n{hooks}"
            ),
            "migration-guard.yaml": (
                f"migrations_dir: {migrations_dir}\nsample: schema/sample.sql\n"
            ),
            "schema/sample.sql": SAMPLE,
            **migration(
                1,
                "patients",
                "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\n",
                "DROP TABLE patients;\n",
                migrations_dir,
            ),
        }
        commit(work, "adopt migration-guard", files, verify=False)
        git(work, "push", "-q", "--no-verify", "-u", "origin", "main")
        done = run(
            work,
            sys.executable,
            "-m",
            "pre_commit",
            "install",
            "--hook-type",
            "pre-commit",
            "--hook-type",
            "pre-push",
        )
        assert done.returncode == 0, output(done)
        return work

    return make


def push(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(work, "git", "push", *args)


def on_remote(work: Path, branch: str) -> str:
    return git(work, "ls-remote", "origin", f"refs/heads/{branch}").split("\t")[0]


def test_clean_push_of_a_new_and_of_an_existing_branch(consumer: Consumer) -> None:
    work = consumer()
    git(work, "checkout", "-q", "-b", "feature")
    commit(
        work,
        "names index",
        migration(
            2,
            "names",
            "CREATE INDEX patients_name ON patients (name);\n",
            "DROP INDEX patients_name;\n",
        ),
    )
    done = push(work, "-u", "origin", "feature")  # a new branch; the remote has main
    assert done.returncode == 0, output(done)
    assert "migrations apply to an empty database" in output(done)  # the pre-push hooks ran
    commit(work, "docs", {"README.md": "docs\n"})
    commit(
        work,
        "vitals",
        migration(3, "vitals", "CREATE TABLE vitals (id INTEGER);\n", "DROP TABLE vitals;\n"),
    )
    done = push(work)  # the branch the remote already has
    assert done.returncode == 0, output(done)
    assert on_remote(work, "feature") == git(work, "rev-parse", "HEAD").strip()


def test_push_of_a_broken_migration_is_refused_with_its_finding(consumer: Consumer) -> None:
    work = consumer()
    broken = f"{M}/schema/0002_index.sql"
    commit(  # valid SQL (the commit-time hooks pass it) that fails when applied
        work,
        "index a missing table",
        {
            broken: "CREATE INDEX vitals_value ON vitals (value);\n",
            f"{M}/rollback/0002_rollback.sql": "DROP INDEX vitals_value;\n",
        },
    )
    done = push(work)
    assert done.returncode != 0, output(done)
    assert f"{broken}:1: MG301" in output(done)
    assert "no such table: main.vitals" in output(done), output(done)
    assert on_remote(work, "main") != git(work, "rev-parse", "HEAD").strip()


def test_pushing_main_from_a_feature_branch_judges_main(consumer: Consumer) -> None:
    work = consumer()
    git(work, "checkout", "-q", "-b", "feature")
    commit(  # a gap in the numbering, committed without the hooks: only on feature
        work,
        "gap",
        migration(3, "gap", "CREATE TABLE g (a INTEGER);\n", "DROP TABLE g;\n"),
        verify=False,
    )
    git(work, "checkout", "-q", "main")
    commit(
        work,
        "names",
        migration(2, "names", "CREATE INDEX n ON patients (name);\n", "DROP INDEX n;\n"),
    )
    git(work, "checkout", "-q", "feature")
    done = push(work, "origin", "main")  # main is fine; the checked-out feature is not
    assert done.returncode == 0, output(done)
    done = push(work, "origin", "feature")
    assert done.returncode != 0 and "0003_gap.sql: MG102" in output(done), output(done)


def test_a_branch_behind_main_reports_no_deletion(consumer: Consumer) -> None:
    work = consumer()
    git(work, "checkout", "-q", "-b", "feature")
    commit(work, "a report query", {"queries/report.sql": "SELECT name FROM patients;\n"})
    git(work, "checkout", "-q", "main")
    commit(
        work,
        "names",
        migration(2, "names", "CREATE INDEX n ON patients (name);\n", "DROP INDEX n;\n"),
    )
    assert push(work).returncode == 0
    git(work, "checkout", "-q", "feature")  # behind origin/main: it lacks 0002
    for check in ("ci.checksums", "ci.numbering", "ci.rollback_roundtrip"):
        done = run(work, sys.executable, "-m", check, "--base-ref", "origin/main")
        assert done.returncode == 0, (check, output(done))
        assert "compared with merge base" in done.stderr
    done = run(
        work,
        sys.executable,
        "-m",
        "pre_commit",
        "run",
        "--hook-stage",
        "pre-push",
        "--from-ref",
        "origin/main",
        "--to-ref",
        "HEAD",
    )
    assert done.returncode == 0, output(done)
    assert "MG202" not in output(done)
    assert push(work, "-u", "origin", "feature").returncode == 0


def test_a_custom_migrations_dir_is_checked_never_skipped(consumer: Consumer) -> None:
    work = consumer("db/migrations")
    bad = "db/migrations/schema/0002_bad.sql"
    write(
        work, {bad: "CREATE TABLE u (a INTEGER;\n", "db/migrations/rollback/0002_rollback.sql": ""}
    )
    git(work, "add", "-A")
    done = run(work, "git", "commit", "-q", "-m", "a syntax error")
    assert done.returncode != 0, output(done)
    assert f"{bad}:1:" in output(done)
    assert "(no files to check)" not in output(done)

    commit(  # valid SQL that fails when applied: the pre-push hooks must find it in db/
        work,
        "index a missing table",
        {
            bad: "CREATE INDEX vitals_value ON vitals (value);\n",
            "db/migrations/rollback/0002_rollback.sql": "DROP INDEX vitals_value;\n",
        },
    )
    done = push(work)
    assert done.returncode != 0, output(done)
    assert f"{bad}:1: MG301" in output(done)
    assert "(no files to check)" not in output(done)


def test_a_comment_only_migration_applies(consumer: Consumer, tmp_path: Path) -> None:
    work = consumer()
    commit(
        work,
        "nothing to do in SQLite",
        migration(
            2,
            "widen_ids",
            "-- integer size in SQLite is already i64, nothing to do\n",
            "-- nothing to undo\n",
        ),
    )
    done = push(work)
    assert done.returncode == 0, output(done)
    done = run(work, sys.executable, "-m", "ci.migrate", "--db", str(tmp_path / "app.db"))
    assert done.returncode == 0, output(done)
    assert "0002_widen_ids.sql" in done.stdout
