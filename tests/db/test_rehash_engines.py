"""`ci.migrate --rehash`, the same scenarios on both engines: a real SQLite file and a database on
the real PostgreSQL server, the same migrations (SQL both accept), the same lines and log rows.
What only SQLite has (an option refused with another, a missing file) is tests/db/test_rehash.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.checks.engines import ENGINES
from tests.db.postgres import pgrun
from tests.db.test_group_engines import Db, migrate

FILES = {
    "schema/0001_patients.sql": "CREATE TABLE patients (id integer PRIMARY KEY, mrn text);\n",
    "schema/0002_vitals.sql": (
        "CREATE TABLE vitals (\n  id integer PRIMARY KEY,\n  hr integer\n);\n"
    ),
    "seed/0001_patient.sql": "DELETE FROM patients;\nINSERT INTO patients VALUES (1, 'MRN-1');\n",
}
HASHES = "SELECT migration_type, version, file_hash FROM schema_version ORDER BY 1, 2"


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return Db(str(request.param), request, tmp_path)


@pytest.fixture
def migrations(db: Db, tmp_path: Path, capsys: Any) -> Path:
    """FILES, applied."""
    written = pgrun.write(tmp_path, FILES)
    assert migrate(capsys, db, written)[0] == 0
    return written


def edit(migrations: Path, name: str, text: str) -> None:
    (migrations / name).write_text(text, encoding="utf-8")


def test_comment_edits_are_refused_then_rehashed_and_logged(
    db: Db, migrations: Path, capsys: Any
) -> None:
    first, seed = "schema/0001_patients.sql", "seed/0001_patient.sql"
    edit(migrations, first, "-- the ward's patients\n" + FILES[first].replace(" (", "  ("))
    edit(migrations, seed, FILES[seed] + "-- one patient is enough\n")
    code, _, err = migrate(capsys, db, migrations)
    assert code == 1
    assert "or, as only comments or whitespace changed, accept it with --rehash" in err
    before = db.rows(HASHES)

    code, out, _ = migrate(capsys, db, migrations, "--rehash")
    assert code == 0
    assert f"rehashed 0001 {migrations / first}: only comments or whitespace changed" in out
    assert f"rehashed seed-0001 {migrations / seed}: only comments or whitespace changed" in out
    after = db.rows(HASHES)
    assert [row[2] != old[2] for row, old in zip(after, before, strict=True)] == [
        True,  # schema 0001
        False,  # schema 0002: not edited
        True,  # seed 0001
    ]
    logged = db.rows("SELECT migration_type, version, file_hash, error FROM schema_version_log "
                     "WHERE action = 'rehash' ORDER BY id")  # fmt: skip
    assert [row[:3] for row in logged] == [after[0], after[2]]
    assert [row[3] for row in logged] == [
        f"was {old[2]}: only comments or whitespace changed" for old in (before[0], before[2])
    ]

    assert migrate(capsys, db, migrations)[0] == 0  # the run goes on
    code, out, _ = migrate(capsys, db, migrations, "--rehash")
    assert (code, out) == (0, "no applied migration was edited; nothing to rehash\n")


def test_a_statement_edit_refuses_the_whole_rehash_and_writes_nothing(
    db: Db, migrations: Path, capsys: Any
) -> None:
    first, second = "schema/0001_patients.sql", "schema/0002_vitals.sql"
    edit(migrations, first, "-- a note\n" + FILES[first])
    edit(migrations, second, FILES[second].replace("hr integer", "hr real"))
    log = "SELECT id, action, version, file_hash, error FROM schema_version_log ORDER BY id"
    before = db.rows(HASHES), db.rows(log)
    code, _, err = migrate(capsys, db, migrations, "--rehash")
    assert code == 1
    assert f"{second}: edited after it was applied (statements changed)" in err
    assert "--rehash accepts only comment or whitespace edits" in err
    assert first not in err  # that one alone would have been accepted
    assert (db.rows(HASHES), db.rows(log)) == before


def test_a_directive_added_is_not_a_comment(db: Db, migrations: Path, capsys: Any) -> None:
    first = "schema/0001_patients.sql"
    edit(migrations, first, "-- @no-transaction\n" + FILES[first])
    code, _, err = migrate(capsys, db, migrations, "--rehash")
    assert code == 1
    assert "statements changed" in err


IGNORE_UPDATES = {
    "sqlite": "CREATE TRIGGER keep BEFORE UPDATE ON schema_version BEGIN SELECT RAISE(IGNORE); END",
    "postgresql": (
        "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;"
        " CREATE TRIGGER keep BEFORE UPDATE ON schema_version FOR EACH ROW EXECUTE FUNCTION keep()"
    ),
}


def test_a_trigger_that_ignores_the_rewrite_stops_it_in_one_line_and_nothing_is_written(
    db: Db, migrations: Path, capsys: Any
) -> None:
    db.execute(IGNORE_UPDATES[db.engine])
    first = "schema/0001_patients.sql"
    edit(migrations, first, "-- a note\n" + FILES[first])
    before = db.rows(HASHES), db.rows("SELECT id FROM schema_version_log")
    code, out, err = migrate(capsys, db, migrations, "--rehash")
    assert (code, out) == (2, "")
    assert err.startswith("migrate: the runner's schema_version row was not written: a trigger")
    assert err.endswith("ignores or changes it; remove it\n") and err.count("\n") == 1
    assert (db.rows(HASHES), db.rows("SELECT id FROM schema_version_log")) == before
