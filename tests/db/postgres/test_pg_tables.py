"""The runner's own tables on PostgreSQL are the runner's alone: a migration's dynamic SQL
(EXECUTE of a string, which no parse tree shows) that forges, deletes or changes their rows, or
puts a trigger on them, fails the migration; a child table's rows never count; rows the runner
cannot read stop every command with one line. Real server, real runs of ci.migrate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.db.postgres.bookkeeping import Tables
from tests.db.postgres.pgrun import applied, migrate, rows, write

FIRST = {"schema/0001_a.sql": "CREATE TABLE a (id int PRIMARY KEY);\n"}
REFUSED = "changed the runner's table schema_version: refused"
FORGE = (
    "DO $$ BEGIN EXECUTE 'INSERT INTO schema_' || 'version (version, migration_type, "
    "description) VALUES (3, ''schema'', ''forged'')'; END $$;\n"
)


def run_refused(capsys: Any, url: str, migrations: Path, name: str, *extra: str) -> str:
    """Run; assert the migration `name` failed with the refusal; return stderr."""
    code, out, err = migrate(capsys, url, migrations, *extra)
    assert code == 1, (out, err)
    assert f"{migrations}/{name}: changed the " in err
    assert ": refused (a migration's SQL, dynamic SQL included, must not change" in err
    return out + err


@pytest.mark.parametrize(
    "evil",
    [
        FORGE,  # a forged row: 0003 would count as applied without running
        # a function that deletes rows, called by the migration
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
        "EXECUTE format('DELETE FROM %I', 'schema_version'); END $$;\nSELECT f();\n",
        # a trigger on another table that changes a row when the migration writes there
        "CREATE TABLE b (i int);\n"
        "CREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "EXECUTE 'UPDATE schema_' || 'version SET file_hash = ''x'''; RETURN NEW; END $$;\n"
        "CREATE TRIGGER t AFTER INSERT ON b FOR EACH ROW EXECUTE FUNCTION g();\n"
        "INSERT INTO b VALUES (1);\n",
        # an EXCEPTION block runs in a subtransaction of its own, with an id of its own
        "DO $$ BEGIN BEGIN EXECUTE 'UPDATE schema_' || 'version SET version = 9'; "
        "EXCEPTION WHEN others THEN NULL; END; END $$;\n",
    ],
    ids=["forged-row", "deleted-rows", "trigger-update", "in-a-subtransaction"],
)
def test_dynamic_sql_that_changes_schema_version_fails_the_migration(
    tmp_path: Path, pg_database_url: str, capsys: Any, evil: str
) -> None:
    migrations = write(tmp_path, FIRST)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    write(tmp_path, {"schema/0002_evil.sql": evil})
    err = run_refused(capsys, pg_database_url, migrations, "schema/0002_evil.sql")
    assert REFUSED in err
    assert applied(pg_database_url) == [(1, "schema")]
    assert rows(pg_database_url, "SELECT to_regclass('b') IS NULL")[0][0]  # rolled back whole
    failed = rows(pg_database_url, "SELECT version FROM schema_version_log WHERE action = 'failed'")
    assert failed == [(2,)]
    write(tmp_path, {"schema/0002_evil.sql": "SELECT 1;\n", "schema/0003_later.sql": "SELECT 1;\n"})
    assert migrate(capsys, pg_database_url, migrations)[0] == 0  # nothing forged stays
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema"), (3, "schema")]


def test_a_deferred_trigger_that_forges_at_commit_is_caught_before_it(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    evil = (
        "CREATE TABLE b (i int);\n"
        "CREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN EXECUTE "
        "'INSERT INTO schema_' || 'version (version) VALUES (3)'; RETURN NULL; END $$;\n"
        "CREATE CONSTRAINT TRIGGER t AFTER INSERT ON b DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION g();\n"
        "INSERT INTO b VALUES (1);\n"
    )
    migrations = write(tmp_path, {**FIRST, "schema/0002_evil.sql": evil})
    run_refused(capsys, pg_database_url, migrations, "schema/0002_evil.sql")
    assert applied(pg_database_url) == [(1, "schema")]


def test_a_trigger_put_on_the_runners_table_by_dynamic_sql_is_refused(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    evil = (
        "CREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;\n"
        "DO $$ BEGIN EXECUTE 'CREATE TRIGGER t BEFORE INSERT ON schema_' || 'version "
        "FOR EACH ROW EXECUTE FUNCTION g()'; END $$;\n"
    )
    migrations = write(tmp_path, {**FIRST, "schema/0002_evil.sql": evil})
    err = run_refused(capsys, pg_database_url, migrations, "schema/0002_evil.sql")
    assert "changed the triggers or rules on the runner's tables: refused" in err
    assert rows(pg_database_url, "SELECT count(*) FROM pg_trigger WHERE tgname = 't'") == [(0,)]


def test_dynamic_sql_that_drops_the_runners_table_is_refused(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    evil = "DO $$ BEGIN EXECUTE 'DROP TABLE schema_' || 'version'; END $$;\n"
    migrations = write(tmp_path, {**FIRST, "schema/0002_evil.sql": evil})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    assert f"{migrations}/schema/0002_evil.sql: dropped one of the runner's tables: refused" in err
    assert applied(pg_database_url) == [(1, "schema")]


def test_dynamic_sql_that_forges_a_dirty_mark_is_refused(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    evil = (
        "DO $$ BEGIN EXECUTE 'INSERT INTO schema_version' || '_log (logged_at, action, version) "
        "VALUES (''x'', ''dirty'', 7)'; END $$;\n"
    )
    migrations = write(tmp_path, {**FIRST, "schema/0002_evil.sql": evil})
    err = run_refused(capsys, pg_database_url, migrations, "schema/0002_evil.sql")
    assert "changed the runner's table schema_version_log: refused" in err
    marks = rows(pg_database_url, "SELECT count(*) FROM schema_version_log WHERE action = 'dirty'")
    assert marks == [(0,)]


def test_a_no_transaction_migration_is_not_recorded_and_its_mark_stays(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**FIRST, "schema/0002_evil.sql": "-- @no-transaction\n" + FORGE})
    err = run_refused(capsys, pg_database_url, migrations, "schema/0002_evil.sql")
    assert REFUSED in err  # that table alone
    assert "0002 is a @no-transaction migration" in err
    # its statements committed one by one (the forged row with them); 0002 itself is not
    # recorded, and its dirty mark stops the next run until someone looks
    assert applied(pg_database_url) == [(1, "schema"), (3, "schema")]
    open_marks = rows(
        pg_database_url,
        "SELECT version FROM schema_version_log WHERE action = 'dirty' AND cleared_at IS NULL",
    )
    assert open_marks == [(2,)]
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code != 0 and "0002" in err


def test_a_rollback_file_that_deletes_other_rows_is_undone(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(
        tmp_path,
        {
            **FIRST,
            "schema/0002_b.sql": "CREATE TABLE b (i int);\n",
            "rollback/0002_rollback.sql": "DROP TABLE b;\n"
            "DO $$ BEGIN EXECUTE 'DELETE FROM schema_' || 'version'; END $$;\n",
        },
    )
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    run_refused(
        capsys, pg_database_url, migrations, "rollback/0002_rollback.sql", "--rollback", "2"
    )
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema")]
    assert rows(pg_database_url, "SELECT to_regclass('b') IS NOT NULL") == [(True,)]


def test_a_child_tables_rows_never_count(tmp_path: Path, pg_database_url: str, capsys: Any) -> None:
    migrations = write(tmp_path, FIRST)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    with psycopg.connect(pg_database_url, autocommit=True) as conn:  # by hand, not a migration
        conn.execute("CREATE TABLE sv_archive () INHERITS (schema_version)")
        conn.execute("INSERT INTO sv_archive (version, description) VALUES (2, 'child')")
        conn.execute("ALTER TABLE sv_archive ADD CONSTRAINT x CHECK (true)")
    write(tmp_path, {"schema/0002_b.sql": "CREATE TABLE b (i int);\n",
                     "rollback/0002_rollback.sql": "DROP TABLE b;\n"})  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations)
    assert code == 0, (out, err)
    assert "applied 0002" in out
    assert rows(pg_database_url, "SELECT to_regclass('b') IS NOT NULL") == [(True,)]
    code, out, err = migrate(capsys, pg_database_url, migrations, "--rollback", "2")
    assert code == 0, (out, err)
    assert rows(pg_database_url, "SELECT version FROM ONLY schema_version") == [(1,)]
    assert rows(pg_database_url, "SELECT version FROM sv_archive") == [(2,)]  # left alone


@pytest.mark.parametrize(
    "evil",
    [
        "CREATE TABLE sv_archive () INHERITS (schema_version);",
        'CREATE TABLE x (i int); ALTER TABLE x INHERIT public."schema_version";',
        "CREATE TABLE sv () INHERITS (schema_version_log);",
    ],
)
def test_a_migration_may_not_inherit_from_the_runners_tables(
    tmp_path: Path, pg_database_url: str, capsys: Any, evil: str
) -> None:
    migrations = write(tmp_path, {**FIRST, "schema/0002_child.sql": evil + "\n"})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    assert "migrations must not change the runner's bookkeeping table schema_version" in err
    assert "inherit" in err
    assert applied(pg_database_url) == [(1, "schema")]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("version = -5", "schema_version: version -5 is out of range"),
        ("file_hash = NULL, rows_affected = NULL, version = 0", "version 0 is out of range"),
    ],
)
def test_a_row_the_runner_cannot_read_stops_every_command(
    tmp_path: Path, pg_database_url: str, capsys: Any, change: str, said: str
) -> None:
    migrations = write(tmp_path, FIRST)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    rows(pg_database_url, f"UPDATE schema_version SET {change} RETURNING 1")
    for extra in ((), ("--status",), ("--rollback", "0")):
        code, out, err = migrate(capsys, pg_database_url, migrations, *extra)
        assert code == 2, (extra, out, err)
        assert said in err and "correct or delete that row by hand" in err
        assert len(err.strip().splitlines()) == 1
    assert rows(pg_database_url, "SELECT count(*) FROM schema_version") == [(1,)]


def test_the_snapshot_stays_cheap_on_thousands_of_rows(pg_database_url: str) -> None:
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        tables = Tables(conn)
        conn.execute("BEGIN")
        tables.create(conn)
        conn.execute("COMMIT")
        conn.execute(
            "INSERT INTO schema_version (version, file_hash) "
            "SELECT n, md5(n::text) FROM generate_series(1, 5000) n"
        )
        conn.execute(
            "INSERT INTO schema_version_log (logged_at, action, version) "
            "SELECT 'x', 'apply', n FROM generate_series(1, 5000) n"
        )
        before = tables.snapshot(conn)
        assert before.table.startswith("5000:") and before.log.startswith("5000:")
        conn.execute("UPDATE schema_version SET description = 'y' WHERE version = 4321")
        after = tables.snapshot(conn)
        assert after.table != before.table and after.log == before.log
