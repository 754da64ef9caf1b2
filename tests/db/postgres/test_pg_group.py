"""`ci.migrate --database-url ... --group` and `--dry-run`: what only PostgreSQL has. Each member
of a group (or of the dry run's transaction) runs as it would alone: in the session the run
started with, its deferred constraints checked when it ends. A runner killed with SIGKILL inside
a group leaves nothing of it; a second runner waits for the group's lock. The scenarios both
engines share are in tests/db/test_group_engines.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.db.postgres.pgrun import applied, migrate, rows, schema_dump, write

pytestmark = pytest.mark.postgresql

ACCOUNTS = {
    "schema/0001_accounts.sql": "CREATE TABLE accounts (id int PRIMARY KEY);\n",
    "schema/0002_temp.sql": (
        "CREATE TEMP TABLE accounts (other text);\n"  # would shadow the real one
        "SET LOCAL search_path = nowhere;\n"
        "PREPARE p AS SELECT 1;\n"
    ),
    "schema/0003_fill.sql": "INSERT INTO accounts (id) VALUES (1);\nPREPARE p AS SELECT 2;\n",
}


@pytest.mark.parametrize("how", [["--group"], ["--dry-run"]])
def test_each_member_starts_in_the_session_the_run_started_with(
    tmp_path: Path, pg_database_url: str, capsys: Any, how: list[str]
) -> None:
    migrations = write(tmp_path, ACCOUNTS)
    code, out, err = migrate(capsys, pg_database_url, migrations, *how)
    assert code == 0, out + err
    if how == ["--group"]:
        assert rows(pg_database_url, "SELECT id FROM accounts") == [(1,)]
    else:
        assert "would apply 0003" in out
        assert rows(pg_database_url, "SELECT to_regclass('accounts')") == [(None,)]


DEFERRED = {
    "schema/0001_parents.sql": (
        "CREATE TABLE p (id int PRIMARY KEY);\n"
        "CREATE TABLE c (pid int REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);\n"
    ),
    # needs its constraint deferred: the child comes before its parent
    "schema/0002_child_first.sql": "INSERT INTO c VALUES (1);\nINSERT INTO p VALUES (1);\n",
    "schema/0003_orphan.sql": "CREATE TABLE t3 (x int);\nINSERT INTO c VALUES (42);\n",
    "schema/0004_t4.sql": "CREATE TABLE t4 (x int);\n",
}


def test_a_deferred_constraint_is_checked_when_its_member_ends_as_its_own_commit_would(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, DEFERRED)
    orphan = f"{migrations}/schema/0003_orphan.sql: at commit: insert or update on table"
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--dry-run")
    assert code == 1
    assert "would apply 0002" in out  # deferred again after 0001's own check
    assert f"would FAIL 0003: {orphan}" in out
    code, out, err = migrate(capsys, pg_database_url, migrations, "--group")
    assert code == 1
    assert f"migrate: {orphan}" in err
    assert "FAILED: group rolled back: 0001..0004" in out
    assert rows(pg_database_url, "SELECT to_regclass('p'), to_regclass('t3')") == [(None, None)]
    assert applied(pg_database_url) == []
    code, _, err = migrate(capsys, pg_database_url, migrations)  # one transaction each
    assert code == 1 and f"migrate: {orphan}" in err
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema")]


def test_the_dry_run_stops_before_a_no_transaction_migration_and_names_what_it_left(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_t.sql": "CREATE TABLE t (x int);\n",
        "schema/0002_index.sql": "-- @no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);\n",
        "schema/0003_u.sql": "CREATE TABLE u (x int);\n",
    })  # fmt: skip
    before = schema_dump(pg_database_url)
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--dry-run")
    assert code == 0
    assert "would apply 0001" in out
    assert f"not rehearsed 0002 schema {migrations}/schema/0002_index.sql: @no-transaction" in out
    assert f"not rehearsed 0003 schema {migrations}/schema/0003_u.sql: after 0002" in out
    assert "dry run: 1 would succeed, 2 not rehearsed; nothing was changed" in out
    assert schema_dump(pg_database_url) == before


def test_group_true_in_the_config_file_groups_on_postgresql(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {"schema/0001_a.sql": "CREATE TABLE a (x int);\n",
                                  "schema/0002_b.sql": "CREATE TABLE b (x int);\n"})  # fmt: skip
    config = tmp_path / "migration-guard.yaml"
    config.write_text("migrate:\n  group: true\n")
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--config", str(config))
    assert code == 0
    assert "group of 2 migrations (0001..0002) committed" in out


# --- real processes ---------------------------------------------------------------------------

SLOW_GROUP = {
    "schema/0001_a.sql": "CREATE TABLE a (x int);\n",
    "schema/0002_b.sql": "CREATE TABLE b (x int);\nSELECT pg_sleep(0.5);\n",
    "schema/0003_c.sql": "CREATE TABLE c (x int);\n",
}


def command(url: str, migrations: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ci.migrate", "--database-url", url,
            "--migrations-dir", str(migrations), *extra]  # fmt: skip


def runner(url: str, migrations: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(url, migrations, *extra),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def sleeping(url: str) -> int:
    """The pid of the server session at the group's pg_sleep (0001 run, not committed)."""
    deadline = time.monotonic() + 60
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'active' AND query LIKE '%%SELECT pg_sleep(%%' AND pid <> pg_backend_pid()"
    )
    while time.monotonic() < deadline:
        found = rows(url, query)
        if found:
            return int(found[0][0])
        time.sleep(0.01)
    raise AssertionError("the runner never reached the group's pg_sleep")


@pytest.mark.slow
def test_kill_9_inside_a_group_leaves_nothing_of_it_and_the_next_run_applies_it(
    tmp_path: Path, pg_database_url: str
) -> None:
    migrations = write(tmp_path, SLOW_GROUP)
    process = runner(pg_database_url, migrations, "--group")
    backend = sleeping(pg_database_url)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30  # the server notices the lost client after the sleep
    gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    while rows(pg_database_url, gone, (backend,)) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.05)
    # 0001 and its row rolled back with 0002: only the runner's tables, created before
    tables = rows(pg_database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                   "ORDER BY 1")  # fmt: skip
    assert tables == [("schema_version",), ("schema_version_log",)]
    assert applied(pg_database_url) == []
    done = subprocess.run(command(pg_database_url, migrations, "--group"), cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "group of 3 migrations (0001..0003) committed" in done.stdout
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema"), (3, "schema")]


@pytest.mark.slow
def test_a_second_runner_waits_for_the_groups_lock_or_gives_up_in_one_line(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**SLOW_GROUP, "schema/0002_b.sql": (
        "CREATE TABLE b (x int);\nSELECT pg_sleep(3);\n")})  # fmt: skip
    first = runner(pg_database_url, migrations, "--group")
    sleeping(pg_database_url)
    code, _, err = migrate(capsys, pg_database_url, migrations, "--busy-timeout", "0.2")
    assert code == 2
    assert len(err.splitlines()) == 1 and "busy-timeout" in err
    assert applied(pg_database_url) == []  # nothing of the group is visible
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--group", "--busy-timeout", "60")
    assert code == 0
    assert "up to date at 0003" in out  # it waited, then found the group applied
    said = first.communicate(timeout=60)
    assert first.returncode == 0, said
    logged = rows(pg_database_url, "SELECT version, count(*) FROM schema_version_log "
                                   "WHERE action = 'apply' GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert logged == [(1, 1), (2, 1), (3, 1)]


@pytest.mark.slow
def test_ctrl_c_inside_a_group_rolls_it_back_and_logs_where(
    tmp_path: Path, pg_database_url: str
) -> None:
    migrations = write(tmp_path, {**SLOW_GROUP, "schema/0002_b.sql": (
        "CREATE TABLE b (x int);\nSELECT pg_sleep(10);\n")})  # fmt: skip
    process = runner(pg_database_url, migrations, "--group")
    sleeping(pg_database_url)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    members = "0001..0003 (0001_a.sql, 0002_b.sql, 0003_c.sql)"
    assert f"interrupted during 0002_b.sql: group rolled back: {members} not applied" in err
    assert applied(pg_database_url) == []
    assert rows(pg_database_url, "SELECT to_regclass('a')") == [(None,)]
    assert rows(pg_database_url, "SELECT action, error FROM schema_version_log") == [(
        "group rolled back",
        "3 migrations not applied (0001_a.sql, 0002_b.sql, 0003_c.sql); "
        "interrupted during 0002_b.sql",
    )]  # fmt: skip
