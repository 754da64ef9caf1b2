"""End to end, as a team adopts the hooks: a consumer repository with a bare remote, the six hooks
installed by `pre-commit install --hook-type pre-commit --hook-type pre-push` from this checkout,
and real `git commit` / `git push`.

The consumer repository and its helpers are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import M, git, output, run_with_hooks, write
from tests.e2e.conftest import Consumer, commit, migration, on_remote, push


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
        done = run_with_hooks(work, sys.executable, "-m", check, "--base-ref", "origin/main")
        assert done.returncode == 0, (check, output(done))
        assert "compared with merge base" in done.stderr
    done = run_with_hooks(
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
    done = run_with_hooks(work, "git", "commit", "-q", "-m", "a syntax error")
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
    done = run_with_hooks(
        work, sys.executable, "-m", "ci.migrate", "--db", str(tmp_path / "app.db")
    )
    assert done.returncode == 0, output(done)
    assert "0002_widen_ids.sql" in done.stdout
