"""End to end, as a team with an existing database adopts the runner: a consumer repository (the
same one as tests/e2e/test_e2e_push.py, migrations in a custom directory named by
migration-guard.yaml), databases built by hand with the `sqlite3` shell, and the documented
commands: `--status --detect`, `--baseline N`, then `migrate`; `ci.checksums --db` afterwards."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import output, run_with_hooks
from tests.e2e.conftest import Consumer, commit, migration

CUSTOM = "db/migrations"
# what 0001 (the consumer's) and 0002 create, typed by hand, plus a table of the application's
BY_HAND = """
create table patients (id integer primary key, name text);
create table visits (id integer primary key, patient_id integer references patients(id));
create table app_settings (k text primary key, v text);
insert into patients values (1, 'ada');
"""


def sqlite3_shell(db: Path, sql: str) -> None:
    done = subprocess.run(
        ["sqlite3", str(db)], input=sql, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def migrate(work: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_with_hooks(
        work, sys.executable, "-m", "ci.migrate", "--db", str(db), "--no-backup", *args
    )


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 shell")
def test_baseline_adopts_a_hand_built_database_and_refuses_one_that_differs(
    consumer: Consumer, tmp_path: Path
) -> None:
    work = consumer(CUSTOM)
    commit(  # the hooks are the subject of test_e2e_push.py; here the database is
        work,
        "visits",
        {
            **migration(
                2,
                "visits",
                "CREATE TABLE visits (id INTEGER PRIMARY KEY,"
                " patient_id INTEGER REFERENCES patients (id));\n",
                "DROP TABLE visits;\n",
                CUSTOM,
            ),
            **migration(
                3,
                "visit_at",
                "ALTER TABLE visits ADD COLUMN at TEXT;\n",
                "ALTER TABLE visits DROP COLUMN at;\n",
                CUSTOM,
            ),
        },
        verify=False,
    )
    adopted, differs = tmp_path / "app.db", tmp_path / "other.db"
    sqlite3_shell(adopted, BY_HAND)
    sqlite3_shell(differs, BY_HAND.replace("patient_id integer", "pid integer"))

    done = migrate(work, adopted, "--status", "--detect")
    assert done.returncode == 0, output(done)
    assert "0001..0002 look applied" in done.stdout, output(done)

    before = differs.read_bytes()
    done = migrate(work, differs, "--baseline", "2")
    assert done.returncode == 1, output(done)
    assert "column visits.patient_id missing" in done.stderr, output(done)
    assert differs.read_bytes() == before

    done = migrate(work, adopted, "--baseline", "2")
    assert done.returncode == 0, output(done)
    assert "recorded 0001..0002 as applied without running them" in done.stdout
    done = migrate(work, adopted)
    assert done.returncode == 0, output(done)
    assert f"applied 0003      schema {CUSTOM}/schema/0003_visit_at.sql" in done.stdout, done.stdout
    assert "applied 0001" not in done.stdout and "applied 0002" not in done.stdout
    done = run_with_hooks(work, sys.executable, "-m", "ci.checksums", "--db", str(adopted))
    assert done.returncode == 0, output(done)
