"""`ci.migrate --baseline N`, the same scenarios on both engines: a real SQLite file and a
database on the real PostgreSQL server, each built by hand, the same migrations (SQL both
accept), the same lines and rows. On PostgreSQL what the migrations create is learnt on a
throwaway database of `--server-url`, and so is what `--status --detect` compares. What only
SQLite has (a missing database file, the scratch database's directory) is
tests/db/test_baseline.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ci.core.sqltext import checksum
from ci.migrate import main
from tests import pg
from tests.checks.engines import ENGINES
from tests.db.postgres import pgrun
from tests.db.test_group_engines import Db
from tests.db.test_group_engines import migrate as run

FILES = {
    "schema/0001_patients.sql": (
        "CREATE TABLE patients (id integer PRIMARY KEY, name text NOT NULL);\n"
        "CREATE INDEX patients_name ON patients (name);\n"
    ),
    "schema/0002_visits.sql": (
        "CREATE TABLE visits (\n"
        "    id integer PRIMARY KEY,\n"
        "    patient_id integer NOT NULL REFERENCES patients (id),\n"
        "    at text\n"
        ");\n"
    ),
    "schema/0003_note.sql": "ALTER TABLE visits ADD COLUMN note text;\n",
    "seed/0001_first_patient.sql": (
        "INSERT INTO patients (id, name) SELECT 1, 'first' "
        "WHERE NOT EXISTS (SELECT 1 FROM patients WHERE id = 1);\n"
    ),
}
# What 0001..0002 create, written by hand the way an application that predates the migrations
# might have: other spelling, other case, an index and a table of its own.
BY_HAND = (
    'create table "patients" (id integer primary key, name text not null);\n'
    "create index patients_name on patients(name);\n"
    "create table visits (id integer primary key, patient_id integer not null\n"
    "    references patients(id), at text);\n"
    "create index visits_at on visits(at);\n"
    "create table app_settings (k text primary key, v text);\n"
    "insert into patients values (7, 'seven');\n"
)
NO_INDEX = BY_HAND.replace("create index patients_name on patients(name);\n", "")
RUNNER_TABLES = (
    "SELECT count(*) FROM {catalog} WHERE {name} IN ('schema_version', 'schema_version_log')"
)


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return Db(str(request.param), request, tmp_path)


def baseline(capsys: Any, db: Db, migrations: Path, *extra: str) -> tuple[int, str, str]:
    server = ["--server-url", pg.server_url()] if db.engine == "postgresql" else []
    return run(capsys, db, migrations, "--baseline", *extra, *server)


def runner_tables(db: Db) -> int:
    if db.engine == "postgresql":
        where = RUNNER_TABLES.format(catalog="pg_tables", name="tablename")
    else:
        where = RUNNER_TABLES.format(catalog="sqlite_master", name="name")
    return int(db.rows(where)[0][0])


def test_baseline_adopts_a_hand_built_database_of_the_same_shape(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    migrations = pgrun.write(tmp_path, FILES)
    db.execute(BY_HAND)
    code, out, err = baseline(capsys, db, migrations, "2")
    assert code == 0, out + err
    assert "recorded 0001..0002 as applied without running them" in out
    assert "table app_settings" in out and "index visits_at" in out  # extras are fine, and said
    rows = db.rows("SELECT version, migration_type, description, file_hash, applied_by, "
                   "execution_time_ms FROM schema_version ORDER BY version")  # fmt: skip
    hashes = [checksum((migrations / name).read_bytes()) for name in list(FILES)[:2]]
    assert [row[:4] for row in rows] == [
        (1, "schema", "patients", hashes[0]),
        (2, "schema", "visits", hashes[1]),
    ]
    assert all("(baseline: recorded, not run)" in row[4] and row[5] is None for row in rows)
    assert db.log() == [("baseline", 2, "baseline 0001..0002", None)]
    assert db.rows("SELECT id, name FROM patients") == [(7, "seven")]  # untouched

    code, out, err = run(capsys, db, migrations)  # then only what comes after 0002
    assert code == 0, out + err
    assert "applied 0003" in out and "applied 0002" not in out
    assert "applied seed-0001" in out  # seeds are idempotent and run at the head


def test_baseline_refuses_a_database_that_differs_and_changes_nothing(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    migrations = pgrun.write(tmp_path, FILES)
    db.execute(NO_INDEX)
    before = db.schema()
    code, out, err = baseline(capsys, db, migrations, "2")
    assert code == 1, out + err
    assert "does not have the shape 0001..0002 create" in err
    assert "index patients_name on patients missing" in err
    assert "--baseline 2 --force" in err  # how to go on anyway, if the user knows better
    assert db.schema() == before and runner_tables(db) == 0  # not even the runner's tables


def test_force_adopts_a_database_that_differs_loudly(db: Db, tmp_path: Path, capsys: Any) -> None:
    migrations = pgrun.write(tmp_path, FILES)
    db.execute(NO_INDEX)
    code, out, err = baseline(capsys, db, migrations, "2", "--force")
    assert code == 0, out + err
    assert "WARNING: --force" in err and "index patients_name on patients missing" in err
    assert db.versions() == [("schema", 1), ("schema", 2)]
    ((action, _, _, error),) = db.log()
    assert action == "baseline" and "--force" in error and "patients_name" in error


def test_baseline_warns_for_each_migration_the_schema_cannot_prove(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    data = {"data/0002_backfill.sql": "UPDATE patients SET name = upper(name);\n"}
    migrations = pgrun.write(
        tmp_path,
        {
            **data,
            "schema/0001_patients.sql": FILES["schema/0001_patients.sql"],
            "schema/0003_visits.sql": FILES["schema/0002_visits.sql"],
        },
    )
    db.execute(BY_HAND)
    code, out, err = baseline(capsys, db, migrations, "3")
    assert code == 0, out + err
    warnings = [line for line in err.splitlines() if "WARNING" in line]
    assert warnings == [
        "migrate: WARNING: 0002 (0002_backfill.sql) changes no table, index, view or trigger: "
        "recorded as applied without proof that it ran here (what it does to rows cannot be "
        "told from the schema)"
    ]
    assert db.versions() == [("schema", 1), ("data", 2), ("schema", 3)]
    assert db.rows("SELECT name FROM patients") == [("seven",)]  # recorded, not run


def test_baseline_refuses_versions_already_applied(db: Db, tmp_path: Path, capsys: Any) -> None:
    migrations = pgrun.write(tmp_path, FILES)
    assert run(capsys, db, migrations, "--target", "1")[0] == 0
    log = db.log()
    code, out, err = baseline(capsys, db, migrations, "2")
    assert (code, out) == (1, "")
    assert "0001 is already applied (in schema_version)" in err and err.count("\n") == 1
    assert db.log() == log


def test_a_migration_that_fails_on_the_scratch_database_refuses_in_one_line(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    migrations = pgrun.write(
        tmp_path, {**FILES, "schema/0002_visits.sql": "INSERT INTO nowhere VALUES (1);\n"}
    )
    db.execute(BY_HAND)
    before = db.schema()
    code, _, err = baseline(capsys, db, migrations, "2")
    assert code == 1
    assert f"{migrations}/schema/0002_visits.sql:1: " in err
    assert "database to learn what it creates; nothing was changed" in err
    assert db.schema() == before and runner_tables(db) == 0


@pytest.mark.postgresql
@pytest.mark.parametrize(
    ("action", "said"),
    [(["--baseline", "2"], "--baseline"), (["--status", "--detect"], "--status --detect")],
)
def test_without_a_server_url_the_postgres_baseline_says_how_in_one_line(
    pg_database_url: str,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    action: list[str],
    said: str,
) -> None:
    """--baseline and --status --detect both learn on a throwaway database."""
    monkeypatch.delenv("MIGRATION_GUARD_SERVER_URL", raising=False)
    migrations = pgrun.write(tmp_path, FILES)
    code, out, err = pgrun.migrate(capsys, pg_database_url, migrations, *action)
    assert (code, out) == (2, "")
    assert err == (
        f"migrate: {said} with --database-url learns what the migrations create on "
        "a throwaway database: give --server-url postgresql://USER@HOST:PORT/DB (a role that "
        "may create databases) or set $MIGRATION_GUARD_SERVER_URL\n"
    )
    assert pgrun.rows(pg_database_url, "SELECT to_regclass('schema_version')") == [(None,)]


def test_server_url_goes_with_a_postgres_baseline_only(tmp_path: Path, capsys: Any) -> None:
    migrations = pgrun.write(tmp_path, FILES)
    url = "postgresql://postgres@127.0.0.1:5432/postgres"
    sqlite = ["--db", str(tmp_path / "app.db"), "--migrations-dir", str(migrations)]
    with pytest.raises(SystemExit) as stop:
        main([*sqlite, "--baseline", "2", "--server-url", url])
    assert stop.value.code == 2
    assert "--server-url goes with --database-url --baseline or --status --detect only" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "app.db").exists()


def detect(capsys: Any, db: Db, migrations: Path) -> tuple[int, str, str]:
    server = ["--server-url", pg.server_url()] if db.engine == "postgresql" else []
    return run(capsys, db, migrations, "--status", "--detect", *server)


def test_status_detect_says_which_pending_migrations_look_applied(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    """Each pending migration on a scratch database (SQLite: a temp file; PostgreSQL: a
    throwaway database), compared with the database, which is only read."""
    migrations = pgrun.write(tmp_path, FILES)
    db.execute(BY_HAND)
    before = db.schema()
    code, out, err = detect(capsys, db, migrations)
    assert code == 0, out + err
    assert "0001..0002 look applied" in out, out
    option = "--database-url" if db.engine == "postgresql" else "--db"
    assert f"adopt them with python -m ci.migrate {option} " in out and "--baseline 2," in out
    assert "0003_note.sql: differs: column visits.note missing" in out, out
    assert db.schema() == before and runner_tables(db) == 0


def test_status_detect_does_not_guess_about_a_data_migration(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    fill = {"data/0004_fill_notes.sql": "UPDATE visits SET note = '' WHERE note IS NULL;\n"}
    migrations = pgrun.write(tmp_path, {**FILES, **fill})
    db.execute(BY_HAND.replace("at text)", "at text, note text)"))
    code, out, err = detect(capsys, db, migrations)
    assert code == 0, out + err
    assert "0001..0003 look applied" in out and "--baseline 3," in out, out
    assert "0004_fill_notes.sql: changes no table, index, view or trigger" in out, out
