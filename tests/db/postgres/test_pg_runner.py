"""`python -m ci.migrate --database-url ...` on a real PostgreSQL server: apply, status, failures
that leave the database as it was, edited files, rollback, the lock, the timeouts, and the
password never shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.db.postgres.execute import LOCK_KEY
from tests.db.postgres.pgrun import applied, migrate, rows, schema_dump, write

pytestmark = pytest.mark.postgresql

THREE = {
    "schema/0001_patients.sql": (
        "CREATE TABLE patients (id serial PRIMARY KEY, name text NOT NULL);\n"
        "CREATE FUNCTION one() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
        "INSERT INTO patients (name) VALUES ('a'), ('b');\n"
    ),
    "rollback/0001_rollback.sql": "DROP FUNCTION one();\nDROP TABLE patients;\n",
    "data/0002_fill.sql": "UPDATE patients SET name = upper(name) WHERE id > 0;\n",
    "rollback/0002_rollback.sql": "UPDATE patients SET name = lower(name) WHERE id > 0;\n",
    "seed/0001_defaults.sql": (
        "INSERT INTO patients (name) SELECT 'seed' "
        "WHERE NOT EXISTS (SELECT 1 FROM patients WHERE name = 'seed');\n"
    ),
}
BAD = {
    "schema/0003_bad.sql": (
        "CREATE TABLE visits (id int);\n"
        "INSERT INTO patients (name) VALUES ('c');\n"
        "SELECT id,\n"
        "       nope\n"
        "  FROM visits;\n"
    ),
    "rollback/0003_rollback.sql": "DROP TABLE visits;\n",
}


def test_apply_all_then_status(tmp_path: Path, pg_database_url: str, capsys: Any) -> None:
    migrations = write(tmp_path, THREE)
    code, out, _ = migrate(capsys, pg_database_url, migrations)
    assert code == 0
    assert "3 to apply (0001 .. seed-0001; at 0000, head 0002)" in out
    assert f"applied 0001      schema {migrations}/schema/0001_patients.sql: 2 rows, " in out
    assert f"applied 0002      data   {migrations}/data/0002_fill.sql: 2 rows, " in out
    assert "OK: database at 0002 (head 0002, seed seed-0001)" in out
    assert applied(pg_database_url) == [(1, "schema"), (1, "seed"), (2, "data")]
    assert rows(pg_database_url, "SELECT name FROM patients ORDER BY id") == [
        ("A",),
        ("B",),
        ("seed",),
    ]
    code, out, _ = migrate(capsys, pg_database_url, migrations)
    assert (code, out.splitlines()[-1]) == (0, "OK: database at 0002 (head 0002, seed seed-0001)")
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--status")
    assert code == 0
    assert "version 0002 (head of" in out
    assert "applied (3):" in out and "pending: none" in out and "dirty: none" in out


def test_a_failing_migration_leaves_the_database_as_it_was(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, THREE)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    before = schema_dump(pg_database_url)
    data = rows(pg_database_url, "SELECT * FROM patients ORDER BY id")
    write(tmp_path, BAD)
    code, out, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    # the server's message, at the line its error position points to (the `nope` line)
    assert f'{migrations}/schema/0003_bad.sql:4: column "nope" does not exist' in err
    assert "FAILED: that migration was rolled back; database at 0002" in out
    assert schema_dump(pg_database_url) == before
    assert rows(pg_database_url, "SELECT * FROM patients ORDER BY id") == data
    assert applied(pg_database_url) == [(1, "schema"), (1, "seed"), (2, "data")]
    failed = rows(pg_database_url, "SELECT version, error FROM schema_version_log "
                                   "WHERE action = 'failed'")  # fmt: skip
    assert len(failed) == 1 and failed[0][0] == 3 and "nope" in failed[0][1]


def test_an_edited_applied_file_is_refused(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, THREE)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    first = migrations / "schema/0001_patients.sql"
    first.write_text(first.read_text() + "CREATE TABLE later (x int);\n")
    write(tmp_path, {"schema/0003_more.sql": "CREATE TABLE more (x int);\n"})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    assert err.strip() == (
        f"migrate: {first}: edited after it was applied (statements changed); applied "
        "migrations must not change: restore the file and put the change in a new migration"
    )
    assert rows(pg_database_url, "SELECT to_regclass('more'), to_regclass('later')") == [
        (None, None)
    ]
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--status")
    assert code == 1 and f"EDITED: {first} (statements changed)" in out


def test_rollback_undoes_newest_first_and_resets_seeds(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, THREE)
    before = schema_dump(pg_database_url)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--target", "1")
    assert code == 0 and out.splitlines()[0] == (
        "database is at 0002, above --target 0001; nothing to apply (to go down: --rollback 2)"
    )
    code, out, err = migrate(capsys, pg_database_url, migrations, "--rollback", "2")
    assert code == 0
    assert "rolled back 0002      data" in out and "OK: database at 0001 (head 0002)" in out
    assert "seeds seed-0001 will run again" in err
    assert applied(pg_database_url) == [(1, "schema")]
    assert rows(pg_database_url, "SELECT name FROM patients ORDER BY id")[:2] == [("a",), ("b",)]
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--rollback", "1")
    assert code == 0 and "OK: database at 0000 (head 0002)" in out
    assert applied(pg_database_url) == []
    # back to the empty schema but for the runner's own tables
    after = schema_dump(pg_database_url)
    assert "patients" not in after and "one()" not in after
    assert "patients" not in before


def test_a_failing_rollback_is_undone(tmp_path: Path, pg_database_url: str, capsys: Any) -> None:
    migrations = write(tmp_path, THREE)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    write(tmp_path, {"rollback/0001_rollback.sql": "DROP FUNCTION one();\nDROP TABLE nothere;\n"})
    before = schema_dump(pg_database_url)
    code, out, err = migrate(capsys, pg_database_url, migrations, "--rollback", "1")
    assert code == 1
    assert f'{migrations}/rollback/0001_rollback.sql:2: table "nothere" does not exist' in err
    assert "FAILED: that rollback was undone; database at 0001" in out  # 0002 was undone
    assert applied(pg_database_url) == [(1, "schema")]
    # 0001's DROP FUNCTION, which ran before the failing line, was undone with it
    assert schema_dump(pg_database_url) == before
    assert "FUNCTION public.one()" in before


NO_TRANSACTION = {
    "schema/0001_t.sql": "CREATE TABLE t (x int);\nINSERT INTO t SELECT generate_series(1, 50);\n",
    "rollback/0001_rollback.sql": "DROP TABLE t;\n",
    "schema/0002_index.sql": (
        "-- @no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);\n"
        "UPDATE t SET x = x + 1000 WHERE x <= 10;\n"
        "SELECT nope FROM t;\n"
    ),
    "rollback/0002_rollback.sql": "DROP INDEX t_x;\n",
}


def test_no_transaction_runs_concurrently_under_a_dirty_mark(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, NO_TRANSACTION)
    code, out, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    assert f'{migrations}/schema/0002_index.sql:4: column "nope" does not exist' in err
    assert (
        "FAILED: 0002 is a @no-transaction migration; the statements before line 4 stay "
        "committed and the database is marked dirty"
    ) in out
    # CREATE INDEX CONCURRENTLY ran (it cannot inside a transaction) and stays, as the UPDATE
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass"
    assert rows(pg_database_url, valid) == [(True,)]
    assert rows(pg_database_url, "SELECT count(*) FROM t WHERE x > 1000") == [(10,)]
    assert applied(pg_database_url) == [(1, "schema")]
    # the open mark refuses the next run
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1
    assert "database is dirty: 0002 index started at" in err
    assert "(10 rows done); it failed with:" in err and "Run with --resume" in err
    # fixed, then resumed: the whole file runs again, the mark is cleared with the record
    write(tmp_path, {"schema/0002_index.sql": NO_TRANSACTION["schema/0002_index.sql"]
                     .replace("SELECT nope FROM t;\n", "SELECT 1;\n")})  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations, "--resume")
    assert code == 0, err
    assert "resuming 0002 index (10 rows done)" in err
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema")]
    open_marks = (
        "SELECT count(*) FROM schema_version_log WHERE action = 'dirty' AND cleared_at IS NULL"
    )
    assert rows(pg_database_url, open_marks) == [(0,)]
    assert migrate(capsys, pg_database_url, migrations, "--status")[1].count("dirty: none") == 1


def test_force_clean_clears_the_mark_without_applying(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, NO_TRANSACTION)
    assert migrate(capsys, pg_database_url, migrations)[0] == 1
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--force-clean")
    assert code == 0 and "cleared dirty mark for 0002 index (10 rows done)" in out
    assert applied(pg_database_url) == [(1, "schema")]
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1 and "0002_index.sql:4:" in err and "dirty:" not in err


def test_a_second_runner_waits_for_the_lock_then_gives_up(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, THREE)
    with psycopg.connect(pg_database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        code, out, err = migrate(capsys, pg_database_url, migrations, "--busy-timeout", "0.5")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert "locked by another process: server process" in lines[0]
    assert "(waited 0.5 s, --busy-timeout)" in lines[0]
    assert rows(pg_database_url, "SELECT to_regclass('schema_version')") == [(None,)]


def test_lock_timeout_fails_the_migration_not_the_database(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, THREE)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    write(tmp_path, {"schema/0003_col.sql": "ALTER TABLE patients ADD COLUMN notes text;\n"})
    before = schema_dump(pg_database_url)
    with psycopg.connect(pg_database_url) as other:
        other.execute("LOCK TABLE patients IN ACCESS SHARE MODE")  # a long read, say
        code, out, err = migrate(capsys, pg_database_url, migrations, "--lock-timeout", "0.3")
    assert code == 1
    assert f"{migrations}/schema/0003_col.sql:1: canceling statement due to lock timeout" in err
    assert "FAILED: that migration was rolled back" in out
    assert schema_dump(pg_database_url) == before


def test_statement_timeout_stops_a_runaway(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {"schema/0001_slow.sql": "CREATE TABLE s (x int);\n"
                                  "SELECT pg_sleep(5);\n"})  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations, "--statement-timeout", "0.3")
    assert code == 1
    assert f"{migrations}/schema/0001_slow.sql:2: still running after --statement-timeout" in err
    assert rows(pg_database_url, "SELECT to_regclass('s')") == [(None,)]


def test_the_password_is_never_shown(tmp_path: Path, pg_database_url: str, capsys: Any) -> None:
    secret = "s3cret-pw"
    url = pg_database_url.replace("postgres@", f"postgres:{secret}@")
    assert secret in url
    migrations = write(tmp_path, {**THREE, **BAD})
    said = []
    for extra in ([], ["--status"], ["--format", "json"], ["--rollback", "1"]):
        _, out, err = migrate(capsys, url, migrations, *extra)
        said.append(out + err)
    unreachable = url.replace(":5432/", ":1/")
    said.append("".join(migrate(capsys, unreachable, migrations)[1:]))
    assert all(secret not in text for text in said)
    assert "postgres@127.0.0.1:5432/" in said[0]
    assert "cannot connect: " in said[-1]


def test_unusable_databases_are_one_line_exit_2(
    tmp_path: Path, pg_server_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, THREE)
    missing = pg_server_url.rsplit("/", 1)[0] + "/mgtest_does_not_exist"
    code, out, err = migrate(capsys, missing, migrations)
    assert (code, out) == (2, "")
    assert err == (
        "migrate: postgresql://postgres@127.0.0.1:5432/mgtest_does_not_exist: cannot connect: "
        'database "mgtest_does_not_exist" does not exist\n'
    )


def test_the_sqlite_path_never_imports_psycopg(tmp_path: Path) -> None:
    migrations = write(tmp_path, {"schema/0001_a.sql": "CREATE TABLE a (x);\n"})
    script = (
        "import sys\nfrom ci.migrate import main\n"
        f"main(['--db', {str(tmp_path / 'a.db')!r}, '--migrations-dir', {str(migrations)!r}])\n"
        f"main(['--db', {str(tmp_path / 'a.db')!r}, '--migrations-dir', {str(migrations)!r}, "
        "'--status'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('psycopg', 'pglast'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("edited", "kind"),
    [
        ("$$hello -- DROP EVERYTHING$$", "statements changed"),
        ("$$hello -- world$$ /* a /* nested */ note */", "only whitespace or comments changed"),
    ],
)
def test_an_edit_is_judged_by_postgresqls_scanner(
    tmp_path: Path, pg_database_url: str, capsys: Any, edited: str, kind: str
) -> None:
    """A `--` inside a dollar quote is data, a nested comment is one comment: the verdict the
    runner and --status give is the server's reading, not SQLite's."""
    migrations = write(
        tmp_path, {"schema/0001_t.sql": "CREATE TABLE t (a text);\n"
                   "INSERT INTO t VALUES ($$hello -- world$$);\n"}
    )  # fmt: skip
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    first = migrations / "schema/0001_t.sql"
    first.write_text(first.read_text().replace("$$hello -- world$$", edited))
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1 and f"edited after it was applied ({kind})" in err
    code, out, _ = migrate(capsys, pg_database_url, migrations, "--status")
    assert code == 1 and f"EDITED: {first} ({kind})" in out
