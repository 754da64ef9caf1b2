"""The PostgreSQL runner's refusals and odd endings: files out of order, numbers used twice, the
options it does not take, a failure as a JSON document, and a session killed by the server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.migrate import main
from tests.db.postgres.pgrun import applied, migrate, rows, schema_dump, write

FIRST = {"schema/0001_a.sql": "CREATE TABLE a (x int);\n", "rollback/0001_rollback.sql": ""}


@pytest.mark.postgresql
def test_out_of_order_and_reused_numbers_are_refused(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**FIRST, "schema/0003_c.sql": "CREATE TABLE c (x int);\n"})
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    write(tmp_path, {"schema/0002_b.sql": "CREATE TABLE b (x int);\n"})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    assert (
        f"{migrations}/schema/0002_b.sql: 0002 is not applied but 0003 already is; migrations "
        "apply in order: renumber it above 0003"
    ) in err
    (migrations / "schema/0002_b.sql").unlink()
    write(tmp_path, {"data/0003_again.sql": "SELECT 1;\n"})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1 and "0003" in err and "again" in err
    assert applied(pg_database_url) == [(1, "schema"), (3, "schema")]


@pytest.mark.postgresql
def test_a_failure_as_a_json_document(tmp_path: Path, pg_database_url: str, capsys: Any) -> None:
    migrations = write(tmp_path, {**FIRST, "schema/0002_b.sql": "CREATE TABLE b (x int);\n"
                                  "INSERT INTO b VALUES ('x');\n"})  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations, "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert document["outcome"] == "migration-failed"
    assert document["database"] == {
        "path": pg_database_url,
        "exists": True,
        "version": 1,
    }
    assert document["error"]["file"] == f"{migrations}/schema/0002_b.sql"
    assert document["error"]["line"] == 2
    assert "invalid input syntax for type integer" in document["error"]["message"]
    assert [step["label"] for step in document["run"]["steps"]] == ["0001"]
    assert "applied 0001" in err  # the human lines go to stderr


@pytest.mark.postgresql
def test_a_session_the_server_ends_is_one_line_and_changes_nothing(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**FIRST, "schema/0002_slow.sql": "CREATE TABLE s (x int);\n"
                                  "SELECT pg_sleep(5);\n"})  # fmt: skip
    assert migrate(capsys, pg_database_url, migrations, "--target", "1")[0] == 0
    before = schema_dump(pg_database_url)

    def terminate() -> None:
        with psycopg.connect(pg_database_url, autocommit=True) as admin:
            for _ in range(500):
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query "
                    "LIKE '%%SELECT pg_sleep(%%' AND pid <> pg_backend_pid() "
                    "AND datname = current_database()"  # this test's database: the server is shared
                ).fetchall()
                if ended:
                    return
                time.sleep(0.01)

    killer = threading.Thread(target=terminate)
    killer.start()
    code, _, err = migrate(capsys, pg_database_url, migrations)
    killer.join()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"migrate: the connection to the server was lost while {migrations}/schema/0002_slow.sql:2 "
        "ran ("
    )
    assert lines[0].endswith("); its migration was not committed")
    assert schema_dump(pg_database_url) == before
    assert rows(pg_database_url, "SELECT version FROM schema_version") == [(1,)]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--setup", "x:y"], "--setup not available with --database-url"),
        (["--db", "x.db"], "argument --db: not allowed with argument --database-url"),
    ],
)
def test_options_it_does_not_take_are_one_line_exit_2(
    tmp_path: Path, capsys: Any, extra: list[str], said: str
) -> None:
    migrations = write(tmp_path, FIRST)
    url = "postgresql://postgres@127.0.0.1:1/none"
    with pytest.raises(SystemExit) as stop:
        main(["--database-url", url, "--migrations-dir", str(migrations), *extra])
    assert stop.value.code == 2
    assert said in capsys.readouterr().err


def test_lock_timeout_and_a_bad_url_are_refused(tmp_path: Path, capsys: Any) -> None:
    migrations = write(tmp_path, FIRST)
    for argv, said in (
        (["--db", str(tmp_path / "a.db"), "--lock-timeout", "1"], "--lock-timeout goes with "
         "--database-url only (PostgreSQL)"),
        (["--database-url", "mysql://h/db"], "argument --database-url: not a PostgreSQL URL"),
        (["--database-url", "postgres:s3cret@h/db"], "must start with postgresql://"),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--migrations-dir", str(migrations)])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert said in err and "s3cret" not in err


@pytest.mark.postgresql
def test_a_mark_from_another_host_is_resumable_once_the_lock_is_free(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    """Every runner holds the advisory lock while it runs: when a runner gets it, the holder
    of any open mark has stopped, on whatever host it ran (SQLite can tell only on its own)."""
    migrations = write(tmp_path, {**FIRST, "schema/0002_b.sql": "-- @no-transaction\nSELECT 1;\n"})
    assert migrate(capsys, pg_database_url, migrations, "--target", "1")[0] == 0
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_version_log (logged_at, action, version, migration_type, "
            "description, rows_affected, applied_by) VALUES ('2026-12-01T00:00:00.000Z', "
            "'dirty', 2, 'schema', 'b', 0, 'migration-guard 0.1 pid 7 on elsewhere started 1 "
            "boot x')"
        )
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1 and "Run with --resume to finish it" in err
    assert "cannot be proven" not in err
    assert migrate(capsys, pg_database_url, migrations, "--resume")[0] == 0
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema")]
