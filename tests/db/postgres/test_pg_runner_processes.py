"""Real `python -m ci.migrate --database-url` processes on one PostgreSQL database: two runners
started together never apply a migration twice, and a runner killed with SIGKILL in the middle
of a migration leaves every migration applied and recorded or absent; the next run completes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.db.postgres.pgrun import rows, write

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]

COUNT = 8


def corpus(sleep: float) -> dict[str, str]:
    """COUNT migrations; each makes its own table and adds one row to `hits`, so a migration
    applied twice (or half) shows there, then sleeps so that a kill lands inside one."""
    files = {"schema/0001_hits.sql": "CREATE TABLE hits (version int NOT NULL);\n"}
    for n in range(2, COUNT + 1):
        files[f"schema/{n:04d}_t{n}.sql"] = (
            f"CREATE TABLE t{n} (x int);\n"
            f"INSERT INTO hits VALUES ({n});\n"
            f"SELECT pg_sleep({sleep});\n"
            f"INSERT INTO t{n} VALUES ({n});\n"
        )
    return files


def runner(url: str, migrations: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ci.migrate", "--database-url", url,
         "--migrations-dir", str(migrations), "--busy-timeout", "60"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def consistent(url: str) -> list[int]:
    """The applied versions, after checking that each migration is whole or absent."""
    if rows(url, "SELECT to_regclass('schema_version')") == [(None,)]:
        assert rows(url, "SELECT to_regclass('hits')") == [(None,)]  # killed before anything
        return []
    applied = [int(v) for (v,) in rows(url, "SELECT version FROM schema_version ORDER BY 1")]
    tables = {str(name) for (name,) in rows(url, "SELECT tablename FROM pg_tables "
                                                 "WHERE schemaname = 'public'")}  # fmt: skip
    hits = [int(v) for (v,) in rows(url, "SELECT version FROM hits ORDER BY 1")] if applied else []
    for n in range(2, COUNT + 1):
        present = f"t{n}" in tables
        assert present == (n in applied), f"migration {n}: table {present}, recorded {n in applied}"
        if present:
            assert rows(url, f"SELECT x FROM t{n}") == [(n,)]
    assert hits == [n for n in applied if n > 1]  # each applied once, none half
    return applied


def test_two_runners_at_once_never_apply_twice(tmp_path: Path, pg_database_url: str) -> None:
    migrations = write(tmp_path, corpus(0.05))
    first, second = runner(pg_database_url, migrations), runner(pg_database_url, migrations)
    said = [process.communicate(timeout=120) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], said
    assert consistent(pg_database_url) == list(range(1, COUNT + 1))
    logged = rows(pg_database_url, "SELECT version, count(*) FROM schema_version_log "
                                   "WHERE action = 'apply' GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert logged == [(n, 1) for n in range(1, COUNT + 1)]
    # one applied them all, the other waited for its lock and found nothing to do
    outputs = sorted(out for out, _ in said)
    assert f"up to date at {COUNT:04d}" in outputs[1] or "up to date" in outputs[0]


def sleeping(url: str, *, migration: int) -> None:
    """Wait until the runner is inside `migration`, at its pg_sleep (its INSERT into hits
    done, not committed)."""
    deadline = time.monotonic() + 60
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'active' AND query LIKE '%%SELECT pg_sleep(%%' "
        "AND pid <> pg_backend_pid()"
    )
    while time.monotonic() < deadline:
        at = rows(url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 't%%'")[0][0]
        if at >= migration - 1 and rows(url, query)[0][0]:
            return
        time.sleep(0.01)
    raise AssertionError(f"the runner never reached migration {migration}")


@pytest.mark.parametrize("trial", range(3))
def test_kill_9_mid_migration_then_the_next_run_completes(
    tmp_path: Path, pg_database_url: str, trial: int
) -> None:
    migrations = write(tmp_path, corpus(0.1))
    process = runner(pg_database_url, migrations)
    sleeping(pg_database_url, migration=2 + 2 * trial)  # in the middle of one, by its pg_sleep
    time.sleep(random.Random(trial).uniform(0.0, 0.05))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    applied = consistent(pg_database_url)  # whole or absent, each one
    assert 1 <= len(applied) < COUNT
    done = subprocess.run(runner(pg_database_url, migrations).args, cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert consistent(pg_database_url) == list(range(1, COUNT + 1))


def test_kill_9_in_a_no_transaction_migration_leaves_it_dirty_until_resumed(
    tmp_path: Path, pg_database_url: str
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_hits.sql": "CREATE TABLE hits (version int NOT NULL);\n",
        "schema/0002_index.sql": (
            "-- @no-transaction\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS hits_version ON hits (version);\n"
            "SELECT pg_sleep(0.5);\n"
        ),
    })  # fmt: skip
    process = runner(pg_database_url, migrations)
    sleeping(pg_database_url, migration=0)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    again = runner(pg_database_url, migrations)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 1
    assert "database is dirty: 0002 index started at" in err  # its holder has gone
    assert "Run with --resume to finish it" in err
    resumed = subprocess.run([*again.args, "--resume"], cwd=REPO, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert rows(pg_database_url, "SELECT version FROM schema_version ORDER BY 1") == [(1,), (2,)]


def test_ctrl_c_rolls_the_migration_back_in_one_line(tmp_path: Path, pg_database_url: str) -> None:
    migrations = write(tmp_path, {"schema/0001_z.sql": "CREATE TABLE z (x int);\n"
                                  "SELECT pg_sleep(5);\n"})  # fmt: skip
    process = runner(pg_database_url, migrations)
    sleeping(pg_database_url, migration=0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.splitlines() == [
        "migrate: interrupted; the migration in progress was rolled back (a @batch or "
        "@no-transaction one stays marked dirty: finish it with --resume)"
    ]
    assert rows(pg_database_url, "SELECT to_regclass('z')") == [(None,)]
    assert rows(pg_database_url, "SELECT count(*) FROM schema_version") == [(0,)]
