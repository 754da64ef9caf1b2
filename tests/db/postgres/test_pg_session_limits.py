"""What a PostgreSQL migration cannot switch off: the runner's lock (a migration that released
it stops the run before its row is written) and --statement-timeout, a deadline for the whole
migration kept by the runner, whatever the file sets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.db.postgres.pgrun import applied, migrate, rows, write

FIRST = {"schema/0001_a.sql": "CREATE TABLE a (x int);\n"}
RELEASED = "the migration released the runner's lock"


@pytest.mark.postgresql
def test_a_migration_that_releases_the_lock_is_rolled_back_and_the_run_stops(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**FIRST,
        "schema/0002_free.sql": "CREATE TABLE b (x int);\n"
            "DO $$ BEGIN EXECUTE 'SELECT pg_advisory_unlock_all()'; END $$;\n",
        "schema/0003_c.sql": "CREATE TABLE c (x int);\n",
    })  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 2
    assert f"migrate: {migrations}/schema/0002_free.sql: {RELEASED}" in err
    assert "it was rolled back; the run stops here" in err
    assert applied(pg_database_url) == [(1, "schema")]
    assert rows(pg_database_url, "SELECT count(*) FROM pg_tables WHERE tablename IN ('b', 'c')") \
        == [(0,)]  # fmt: skip


@pytest.mark.postgresql
def test_a_no_transaction_migration_that_releases_the_lock_stays_dirty(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**FIRST,
        "data/0002_unlock.sql": "-- @no-transaction\nINSERT INTO a VALUES (1);\n"
            "DO $$ BEGIN EXECUTE 'SELECT pg_advisory_' || 'unlock_all()'; END $$;\n",
        "schema/0003_c.sql": "CREATE TABLE c (x int);\n",
    })  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 2
    assert f"{migrations}/data/0002_unlock.sql: {RELEASED}" in err
    assert "its statements stay committed and the database stays marked dirty" in err
    assert applied(pg_database_url) == [(1, "schema")]
    assert rows(pg_database_url, "SELECT count(*) FROM a") == [(1,)]
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--status")
    assert "dirty: none" not in out and "0002" in out


def _timed(capsys: Any, url: str, migrations: Path, *extra: str) -> tuple[int, str, float]:
    started = time.monotonic()
    code, _, err = migrate(capsys, url, migrations, *extra)
    return code, err, time.monotonic() - started


@pytest.mark.postgresql
def test_statement_timeout_limits_the_whole_migration(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**FIRST, "schema/0002_slow.sql": "SELECT pg_sleep(0.6);\n" * 4})
    code, err, _ = _timed(capsys, pg_database_url, migrations, "--statement-timeout", "1")
    assert code == 1  # each statement alone is within the limit: the second ends past it
    assert f"{migrations}/schema/0002_slow.sql:2: still running after --statement-timeout 1 s" \
        in err  # fmt: skip
    assert applied(pg_database_url) == [(1, "schema")]


@pytest.mark.postgresql
@pytest.mark.parametrize("switch_off", [
    "SET statement_timeout = 0;", "RESET ALL;", "SET LOCAL statement_timeout = 0;",
    "SELECT set_config('statement_timeout', '0', false);",
])  # fmt: skip
def test_a_file_cannot_switch_the_timeout_off(
    tmp_path: Path, pg_database_url: str, capsys: Any, switch_off: str
) -> None:
    migrations = write(tmp_path, {**FIRST, "schema/0002_slow.sql": f"{switch_off}\n"
                                  "CREATE TABLE b (x int);\nSELECT pg_sleep(60);\n"})  # fmt: skip
    code, err, seconds = _timed(capsys, pg_database_url, migrations, "--statement-timeout", "1")
    assert code == 1 and seconds < 30  # not the minute the file asks for (a busy machine)
    assert f"{migrations}/schema/0002_slow.sql:3: still running after" in err
    assert rows(pg_database_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'") == [(0,)]


@pytest.mark.postgresql
def test_a_no_transaction_migration_past_the_deadline_stays_dirty(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    slow = "-- @no-transaction\nINSERT INTO a VALUES (1);\nSELECT pg_sleep(0.7);\n"
    migrations = write(tmp_path, {**FIRST, "data/0002_slow.sql": f"{slow}SELECT pg_sleep(0.7);\n"
                                  "INSERT INTO a VALUES (2);\n"})  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations, "--statement-timeout", "1")
    assert code == 1 and f"{migrations}/data/0002_slow.sql:4: still running after" in err
    assert "the statements before line 4 stay committed and the database is marked dirty" in out
    assert rows(pg_database_url, "SELECT x FROM a") == [(1,)]


@pytest.mark.postgresql
def test_migrations_within_the_deadline_each_get_a_full_one(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    slow = "SELECT pg_sleep(0.6);\nSELECT pg_sleep(0.6);\n"  # 3.6 s in all: past the limit
    migrations = write(tmp_path, {**FIRST, "schema/0002_b.sql": slow, "schema/0003_c.sql": slow,
                                  "data/0004_d.sql": f"-- @no-transaction\n{slow}"})  # fmt: skip
    code, err, _ = _timed(capsys, pg_database_url, migrations, "--statement-timeout", "2.5")
    assert code == 0, err
    assert [v for v, _ in applied(pg_database_url)] == [1, 2, 3, 4]
