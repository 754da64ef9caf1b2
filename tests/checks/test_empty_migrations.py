"""A migration without a statement (comments only, or 0 bytes) is a valid no-op, in the runner
and in every check; only its rollback pairing and lint's warning on a 0-byte file differ."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ci.core.lockfile import checksum
from tests.conftest import M, WriteTree, run_module

NO_OP = "-- integer size in SQLite is already i64, nothing to do\n"
TREE: dict[str, str | bytes] = {
    f"{M}/schema/0001_init.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;\n",
    f"{M}/schema/0002_widen_ids.sql": NO_OP,
    f"{M}/rollback/0002_rollback.sql": "-- nothing to undo\n",
    f"{M}/schema/0003_blank.sql": b"",
    f"{M}/rollback/0003_rollback.sql": b"",
    f"{M}/schema/0004_names.sql": "CREATE INDEX t_name ON t (name);\n",
    f"{M}/rollback/0004_rollback.sql": "DROP INDEX t_name;\n",
    "schema/sample.sql": "-- @sample-version 4\nINSERT INTO t (id, name) VALUES (1, 'a');\n",
}


@pytest.fixture
def root(write_tree: WriteTree) -> Path:
    return write_tree(TREE)


def test_migrate_applies_and_records_no_op_migrations(root: Path) -> None:
    done = run_module("ci.migrate", "--db", "app.db", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0002_widen_ids.sql" in done.stdout and "0003_blank.sql" in done.stdout
    with sqlite3.connect(root / "app.db") as conn:
        rows = dict(conn.execute("SELECT version, file_hash FROM schema_version"))
    assert sorted(rows) == [1, 2, 3, 4]
    assert rows[2] == checksum(NO_OP.encode())
    assert rows[3] == checksum(b"")
    again = run_module("ci.migrate", "--db", "app.db", cwd=root)
    assert again.returncode == 0 and "0002" not in again.stdout, again.stdout + again.stderr


@pytest.mark.parametrize("check", ["numbering", "apply_empty", "rollback_roundtrip"])
def test_checks_pass_no_op_migrations(root: Path, check: str) -> None:
    done = run_module(f"ci.{check}", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "empty migration" not in done.stdout + done.stderr


def test_apply_sample_passes_no_op_migrations(root: Path) -> None:
    done = run_module("ci.apply_sample", "--sample", "schema/sample.sql", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr


def test_lint_passes_comment_only_and_warns_on_an_empty_file(root: Path) -> None:
    done = run_module("ci.lint", "--no-sqlfluff", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if "0002" in line] == []
    assert (
        f"{M}/schema/0003_blank.sql: MG500 warning: empty file: it runs as a no-op migration."
        in done.stdout
    )


def test_empty_rollback_of_a_real_migration_still_fails(root: Path) -> None:
    (root / M / "rollback/0004_rollback.sql").write_text("-- forgot\n")
    done = run_module("ci.rollback_roundtrip", cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{M}/rollback/0004_rollback.sql: MG402 the rollback of 0004" in done.stdout
    assert "0002" not in done.stdout


def test_migrate_rollback_runs_an_empty_rollback_only_for_a_no_op(root: Path) -> None:
    assert run_module("ci.migrate", "--db", "app.db", cwd=root).returncode == 0
    done = run_module("ci.migrate", "--db", "app.db", "--rollback", "2", "--no-backup", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr  # 0004 real, 0003 and 0002 no-ops
    (root / M / "rollback/0001_rollback.sql").write_text("-- forgot\n")
    done = run_module("ci.migrate", "--db", "app.db", "--rollback", "0", "--no-backup", cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{M}/rollback/0001_rollback.sql: empty rollback" in done.stderr
    with sqlite3.connect(root / "app.db") as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM schema_version")] == [1]


def test_lint_names_an_empty_rollback_as_a_rollback(root: Path) -> None:
    done = run_module("ci.lint", "--no-sqlfluff", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"{M}/rollback/0003_rollback.sql: MG500 warning: empty file: it runs as a no-op rollback."
        in done.stdout
    )
