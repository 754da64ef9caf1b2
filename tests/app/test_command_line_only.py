"""Options that remove, rewrite or skip a safety are taken from the command line only.

`rollback: 1` and `no_backup: true` in migration-guard.yaml once made the documented deploy
command `python -m ci.migrate --db prod.db` roll back every migration without a backup, exit 0.
Every such key in the file is one line naming the file and the key, exit 2, nothing changed;
the same option on the command line still works.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from ci import migrate
from ci.app import cli, config
from tests.conftest import dump, files_of, run_module, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]
CONFIG = "migration-guard.yaml"

THREE = tree(
    {
        "schema/0001_a.sql": "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);\n",
        "rollback/0001_rollback.sql": "DROP TABLE a;\n",
        "schema/0002_b.sql": "CREATE TABLE b (x);\n",
        "rollback/0002_rollback.sql": "DROP TABLE b;\n",
        "schema/0003_c.sql": "CREATE TABLE c (x);\n",
        "rollback/0003_rollback.sql": "DROP TABLE c;\n",
    }
)

# Each key of ci.migrate's that removes or skips a safety, with a value that would switch it on
# (0 and "0" included: a falsy number is still a rollback to nothing).
MIGRATE_KEYS = [
    ("rollback", "1"),
    ("rollback", "0"),
    ("target", "1"),
    ("target", "3"),  # even at the head: a pinned target holds back every later deploy
    ("no_backup", "true"),
    ("no-backup", "true"),
    ("force_clean", "true"),
    ("resume", "true"),
    ("allow_changed", "true"),
    ("baseline", "2"),
    ("force", "true"),
    ("dry_run", "true"),
    ("status", "true"),
]


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def deployed(write_tree: WriteTree) -> Path:
    """A repository whose prod.db is at the head (0003), with data, and a config file."""
    root = write_tree(THREE)
    done = run_module("ci.migrate", "--db", "prod.db", cwd=root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize(("key", "value"), MIGRATE_KEYS, ids=[f"{k}={v}" for k, v in MIGRATE_KEYS])
def test_a_safety_key_in_the_file_stops_the_deploy_command(
    deployed: Path, key: str, value: str
) -> None:
    (deployed / CONFIG).write_text(f"busy_timeout: 5\n{key}: {value}\n", encoding="utf-8")
    before = dump(deployed / "prod.db")
    files = files_of(deployed)
    done = run_module("ci.migrate", "--db", "prod.db", cwd=deployed)
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    dest = config.dest(key)
    assert line.startswith(f"python -m ci.migrate: {CONFIG}: {dest}: command-line only"), line
    flag = "--" + dest.replace("_", "-")
    assert f"give {flag} on the command line" in line
    assert dump(deployed / "prod.db") == before
    assert files_of(deployed) == files  # no backup, no journal left, nothing written


def test_the_same_options_on_the_command_line_still_work(deployed: Path) -> None:
    (deployed / CONFIG).write_text("busy_timeout: 5\nno_backup: false\n", encoding="utf-8")
    db = ["--db", "prod.db"]
    done = run_module("ci.migrate", *db, "--rollback", "2", "--no-backup", cwd=deployed)
    assert done.returncode == 0, done.stderr
    assert "OK: database at 0001" in done.stdout
    assert not list(deployed.glob("prod.db.bak-*"))
    done = run_module("ci.migrate", *db, "--target", "2", cwd=deployed)
    assert done.returncode == 0 and "OK: database at 0002" in done.stdout, done.stderr
    for flag in ("--allow-changed", "--resume", "--force-clean"):
        done = run_module("ci.migrate", *db, flag, "--no-backup", cwd=deployed)
        assert done.returncode == 0, (flag, done.stderr)
    assert "OK: database at 0003" in run_module("ci.migrate", *db, cwd=deployed).stdout


@pytest.mark.parametrize(
    ("module", "text", "key"),
    [
        ("ci.checksums", "update: true\n", "update"),
        ("ci.checksums", "rehash: schema/migrations/schema/0001_a.sql\n", "rehash"),
        ("ci.apply_empty", "schema_snapshot: s.sql\nwrite_snapshot: true\n", "write_snapshot"),
        ("ci.numbering", "rollback: 1\n", "rollback"),  # any command reading the file says so
        ("ci", "no_backup: true\n", "no_backup"),
        ("ci", "rollback: 1\n", "rollback"),
        ("ci", "checks: [numbering]\nchecksums:\n  update: true\n", "update"),
    ],
    ids=[
        "update",
        "rehash",
        "write_snapshot",
        "numbering",
        "ci-no_backup",
        "ci-rollback",
        "ci-section",
    ],
)
def test_every_command_refuses_them_in_the_file(
    deployed: Path, module: str, text: str, key: str
) -> None:
    (deployed / CONFIG).write_text(text, encoding="utf-8")
    files = files_of(deployed)
    done = run_module(module, cwd=deployed)
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    assert f"{CONFIG}: " in line and f"{key}: command-line only" in line, line
    assert files_of(deployed) == files


def test_every_option_is_either_allowed_in_the_file_or_command_line_only() -> None:
    """A new option must be classified on purpose: does it remove, rewrite or skip a safety?"""
    allowed_in_file = {
        # the database and where things are
        "db", "database_url", "migrations_dir", "config", "sample", "lock", "schema_snapshot",
        "invariants",
        # the PostgreSQL server for the checks' throwaway databases (creates and drops only mg_*)
        "server_url",
        # which engine the migrations are written for (a project's setting, not a safety)
        "engine",
        # output
        "junit", "format", "checks", "explain",
        # what to check and how strictly (none of them changes a database or a committed file)
        "base_ref", "all", "exclude_rules", "include_rules", "no_sqlfluff", "sqlfluff_max_bytes",
        "min_sqlite_version", "jobs", "warn_slow", "busy_timeout", "setup", "statement_timeout",
        "lock_timeout",
        # the production-impact estimate and its budget (apply_sample; stricter, never a change)
        "prod_stats", "max_lock_seconds",
        # ci.migrate: a backup path (an existing file is refused), --status's --detect, --group
        # (fewer commits, each group all or none: it removes no safety), --verify (stricter:
        # trusts no cached checksum)
        "backup", "detect", "group", "verify",
    }  # fmt: skip
    parsers: list[argparse.ArgumentParser] = [
        migrate.build_parser(),
        *cli.check_parsers().values(),
    ]
    unclassified = (
        {
            action.dest
            for parser in parsers
            for action in parser._actions
            if action.option_strings and action.dest != "help"
        }
        - allowed_in_file
        - set(config.COMMAND_LINE_ONLY)
        # ci.migrate --format: no safety, but what a deploy's stdout is must not change under
        # the config file; ci.app.migrate_options refuses it there
        - {"output_format"}
    )
    assert not unclassified, f"classify these options: {sorted(unclassified)}"
