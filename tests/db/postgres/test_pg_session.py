"""Each migration of a PostgreSQL run starts in the session the run started with: what one
migration leaves in the session (a temp table, a setting a function changed, a prepared
statement, a WITH HOLD cursor, an advisory lock) never reaches the next one, as when
each runs in a run of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.db.postgres.pgrun import applied, migrate, rows, write


@pytest.mark.postgresql
def test_a_temp_table_does_not_shadow_the_next_migrations_table(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_accounts.sql": "CREATE TABLE accounts (id int);\n",
        "schema/0002_scratch.sql": "CREATE TEMP TABLE accounts (id int);\n"
                                   "INSERT INTO accounts VALUES (1);\n",
        "schema/0003_add.sql": "INSERT INTO accounts VALUES (42);\n",
    })  # fmt: skip
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    assert rows(pg_database_url, "SELECT id FROM public.accounts") == [(42,)]


@pytest.mark.postgresql
def test_a_setting_a_function_changed_is_set_back(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    before = rows(pg_database_url, "SELECT current_setting('search_path')")[0][0]
    migrations = write(tmp_path, {
        "schema/0001_s2.sql": "CREATE SCHEMA s2;\n",
        "schema/0002_helper.sql": "CREATE FUNCTION use_s2() RETURNS void LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM set_config('search_path', 's2', false); "
            "PERFORM set_config('work_mem', '7MB', false); END $$;\nSELECT use_s2();\n",
        "schema/0003_table.sql": "CREATE TABLE landed AS SELECT current_setting('search_path') "
            "AS path, current_setting('work_mem') AS mem;\n",
    })  # fmt: skip
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    assert rows(pg_database_url, "SELECT schemaname FROM pg_tables WHERE tablename = 'landed'") \
        == [("public",)]  # fmt: skip
    assert rows(pg_database_url, "SELECT path, mem <> '7MB' FROM landed") == [(before, True)]


@pytest.mark.postgresql
def test_prepared_statements_and_hold_cursors_do_not_carry_over(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_a.sql": "CREATE TABLE a (x int);\nPREPARE put AS INSERT INTO a VALUES (1);\n"
                             "DECLARE c CURSOR WITH HOLD FOR SELECT 1;\n",
        "schema/0002_put.sql": "EXECUTE put;\n",
    })  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    assert f'{migrations}/schema/0002_put.sql:1: prepared statement "put" does not exist' in err
    write(tmp_path, {"schema/0002_put.sql": "FETCH c;\n"})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1 and 'cursor "c" does not exist' in err
    assert applied(pg_database_url) == [(1, "schema")]


@pytest.mark.postgresql
def test_advisory_locks_end_with_their_migration(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_a.sql": "SELECT pg_advisory_lock(1);\n"
                             "SELECT pg_advisory_lock(1);\nSELECT pg_advisory_lock_shared(2, 3);\n",
        "schema/0002_seen.sql": "CREATE TABLE seen AS SELECT count(*) AS locks FROM pg_locks "
            "WHERE locktype = 'advisory' AND pid = pg_backend_pid();\n",
    })  # fmt: skip
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    assert rows(pg_database_url, "SELECT locks FROM seen") == [(1,)]  # the runner's


@pytest.mark.postgresql
def test_a_no_transaction_migrations_temp_table_ends_with_it(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_accounts.sql": "CREATE TABLE accounts (id int);\n",
        "data/0002_scratch.sql": "-- @no-transaction\nCREATE TEMP TABLE accounts (id int);\n"
                                 "SET search_path = pg_temp, public;\n",
        "data/0003_add.sql": "INSERT INTO accounts VALUES (42);\n",
    })  # fmt: skip
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    assert rows(pg_database_url, "SELECT id FROM public.accounts") == [(42,)]


@pytest.mark.postgresql
def test_a_rollback_file_leaves_nothing_for_the_next_rollback(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_a.sql": "CREATE TABLE a (x int);\n",
        "rollback/0001_rollback.sql": "DROP TABLE a;\n",
        "schema/0002_b.sql": "CREATE TABLE b (x int);\n",
        "rollback/0002_rollback.sql": "DROP TABLE b;\nCREATE TEMP TABLE a (x int);\n",
    })  # fmt: skip
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    assert migrate(capsys, pg_database_url, migrations, "--rollback", "1")[0] == 0
    assert rows(pg_database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename IN ('a', 'b')") == []  # fmt: skip
