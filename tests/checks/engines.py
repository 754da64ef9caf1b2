"""One check scenario written for each engine: the same migrations in SQLite's and in
PostgreSQL's dialect, and the arguments that run a check on that engine. A check test
parametrises over ENGINES (`@pytest.mark.parametrize("engine", ENGINES)`; the PostgreSQL case
carries the `postgresql` marker, so it skips without a server) instead of copying a SQLite test
for PostgreSQL.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS, run_module
from tests.pg import server_url

ENGINES = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgresql)]

# What differs between the dialects in the scenarios: an id column the database numbers.
IDENTITY = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}


def base(engine: str) -> dict[str, str]:
    """Two tables with their rollbacks, every check passes (relative to the migrations dir)."""
    return {
        "schema/0001_patients.sql": (
            f"CREATE TABLE patients (id {IDENTITY[engine]}, mrn text UNIQUE);\n"
        ),
        "rollback/0001_rollback.sql": "DROP TABLE patients;\n",
        "schema/0002_vitals.sql": (
            "CREATE TABLE vitals (id integer PRIMARY KEY,\n"
            "    patient_id integer REFERENCES patients (id), value real);\n"
            "CREATE INDEX idx_vitals_patient ON vitals (patient_id);\n"
        ),
        "rollback/0002_rollback.sql": "DROP INDEX idx_vitals_patient;\nDROP TABLE vitals;\n",
    }


# The scenarios of the SQLite check tests that mean the same on both engines: the third
# migration (and its rollback) added to `base`.
SCENARIOS: dict[str, dict[str, str]] = {
    "failing": {
        "schema/0003_broken.sql": (
            "CREATE TABLE notes (id integer);\n\nINSERT INTO nope VALUES (1);\n"
        ),
        "rollback/0003_rollback.sql": "DROP TABLE notes;\n",
    },
    "index left behind": {
        "schema/0003_index.sql": "CREATE INDEX idx_vitals_value ON vitals (value);\n",
        "rollback/0003_rollback.sql": "-- forgets the index\nSELECT 1;\n",
    },
    "table left behind": {
        "schema/0003_notes.sql": "CREATE TABLE notes (id integer);\n",
        "rollback/0003_rollback.sql": "SELECT 1;\n",
    },
    "missing rollback": {"schema/0003_notes.sql": "CREATE TABLE notes (id integer);\n"},
    "irreversible": {
        "data/0003_fill.sql": "-- @irreversible backfill\nUPDATE vitals SET value = 0;\n",
    },
    "no-op": {
        "schema/0003_nothing.sql": "-- nothing to do yet\n",
        "rollback/0003_rollback.sql": "-- nothing to undo\n",
    },
}

SAMPLE = (
    "-- @sample-version 2\n"
    "INSERT INTO patients (mrn) VALUES ('M1'), ('M2');\n"
    "INSERT INTO vitals (id, patient_id, value) VALUES (1, 1, 1.0), (2, 1, 1.5), (3, 2, 2.5);\n"
)


def write(root: Path, engine: str, extra: dict[str, str]) -> Path:
    """`base(engine)` plus `extra` under root/MIGRATIONS, and sample.sql beside; the root."""
    for relative, text in {**base(engine), **extra}.items():
        path = root / MIGRATIONS / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "sample.sql").write_text(SAMPLE, encoding="utf-8")
    return root


def engine_args(engine: str) -> list[str]:
    """The options that run a check on `engine` (PostgreSQL: on the test server)."""
    if engine == "sqlite":
        return []
    return ["--engine", "postgresql", "--server-url", server_url()]


def run_check(module: str, root: Path, engine: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <module>` on the tree at `root`, on `engine`, as a real process."""
    where = str(root / MIGRATIONS)
    options = engine_args(engine)
    return run_module(module, "--migrations-dir", where, *options, *args, cwd=root, timeout=120)
