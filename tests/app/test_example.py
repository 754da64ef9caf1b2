"""The worked example in schema/: the seed's patient-monitor database, run through the real tools.

Every test runs real processes (`python -m ci.migrate`, `ci.postcheck`, the checks,
`schema/sample/generate.py`) on real SQLite files in tmp_path, the way the README tells a
newcomer to run them.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SAMPLE, REPO, load_sample, run_module

EXAMPLE = REPO / "schema"
MIGRATIONS = EXAMPLE / "migrations"
SAMPLE = EXAMPLE_SAMPLE
INVARIANTS = EXAMPLE / "invariants.sql"
GENERATE = EXAMPLE / "sample" / "generate.py"
HEAD = 7


def migrate(db: Path, *args: str) -> str:
    done = run_module("ci.migrate", "--db", str(db), "--migrations-dir", str(MIGRATIONS), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def postcheck(db: Path, version: int = HEAD) -> tuple[int, str]:
    done = run_module(
        "ci.postcheck",
        "--db",
        str(db),
        "--expect-version",
        str(version),
        "--invariants",
        str(INVARIANTS),
    )
    return done.returncode, done.stdout + done.stderr


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def user_schema(db: Path) -> list[tuple[object, ...]]:
    return query(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE name NOT LIKE 'schema_version%' ORDER BY type, name",
    )


def table_rows(db: Path, *tables: str) -> dict[str, list[tuple[object, ...]]]:
    return {table: query(db, f"SELECT * FROM {table} ORDER BY 1") for table in tables}


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    """A database at version 4 holding schema/sample/sample_data.sql."""
    db = tmp_path / "monitor.db"
    migrate(db, "--target", "4", "--no-backup")
    load_sample(db)
    return db


def test_layout_has_a_rollback_for_every_main_track_migration() -> None:
    main = sorted(p.name for folder in ("schema", "data") for p in (MIGRATIONS / folder).iterdir())
    rollbacks = sorted(p.name for p in (MIGRATIONS / "rollback").iterdir())
    assert [name[:4] for name in main] == [f"{n:04d}" for n in range(1, HEAD + 1)]
    assert rollbacks == [f"{n:04d}_rollback.sql" for n in range(1, HEAD + 1)]
    assert sorted(p.name for p in (MIGRATIONS / "seed").iterdir()) == [
        "0001_default_settings.sql",
        "0002_alarm_thresholds.sql",
    ]
    assert SAMPLE.read_text(encoding="utf-8").splitlines()[0] == "-- @sample-version 4"


def test_applies_to_head_on_a_new_database_and_status_shows_version_7(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    migrate(db)
    status = migrate(db, "--status")
    assert "version 0007" in status
    assert "pending: none" in status
    assert "seed-0002" in status
    assert query(db, "SELECT COUNT(*) FROM settings") == [(5,)]
    assert query(db, "SELECT COUNT(*) FROM alarm_thresholds") == [(6,)]
    code, output = postcheck(db)
    assert code == 0, output


def test_sample_data_loads_at_version_4_and_migrates_to_head(sample_db: Path) -> None:
    migrate(sample_db, "--no-backup")
    # 0005: MRNs copied for the six registered patients; the two unidentified ones keep NULL.
    assert query(
        sample_db,
        "SELECT patient_id, COUNT(*), COUNT(patient_mrn) FROM vitals "
        "WHERE patient_id IN (1, 7, 8) GROUP BY patient_id ORDER BY patient_id",
    ) == [(1, 8, 8), (7, 6, 0), (8, 6, 0)]
    assert query(sample_db, "SELECT DISTINCT patient_mrn FROM vitals WHERE patient_id = 1") == [
        ("MRN-100231",)
    ]
    # 0006: every spelling of the HL7 trigger event normalised.
    assert query(
        sample_db, "SELECT event_code, event_type FROM admission_events WHERE event_id IN (3, 4, 9)"
    ) == [("adt_a01", "admit"), (" a03 ", "discharge"), ("ADT_A03", "discharge")]
    # 0007: unlabelled devices labelled and marked; user labels untouched.
    assert query(sample_db, "SELECT device_label, label_source FROM devices ORDER BY 1") == [
        ("DEVICE-001", "backfill"),
        ("DEVICE-003", "backfill"),
        ("ICU bedside 2", "user"),
        ("ICU-TRANSPORT", None),
    ]
    # Seeds are idempotent: values the user changed are kept, missing ones added.
    assert query(sample_db, "SELECT value FROM settings WHERE key = 'deviceLabel'") == [
        ("ICU-CENTRAL-1",)
    ]
    assert query(sample_db, "SELECT COUNT(*) FROM settings") == [(5,)]
    code, output = postcheck(sample_db)
    assert code == 0, output


def test_invariants_catch_a_vitals_row_without_its_mrn(sample_db: Path) -> None:
    migrate(sample_db, "--no-backup")
    conn = sqlite3.connect(sample_db)
    with conn:
        conn.execute("UPDATE vitals SET patient_mrn = NULL WHERE vital_id = 1")
    conn.close()
    code, output = postcheck(sample_db)
    assert code == 1
    assert "vitals_have_mrn" in output


def test_rolling_back_the_data_migrations_restores_the_sample_rows_exactly(
    sample_db: Path,
) -> None:
    tables = ("patients", "vitals", "admission_events", "devices", "telemetry_metrics")
    before = table_rows(sample_db, *tables)
    schema_before = user_schema(sample_db)
    migrate(sample_db, "--target", str(HEAD), "--no-backup")
    assert table_rows(sample_db, *tables) != before
    output = migrate(sample_db, "--rollback", "5", "--no-backup")
    assert output.index("0007") < output.index("0006") < output.index("0005")
    assert table_rows(sample_db, *tables) == before
    assert user_schema(sample_db) == schema_before


def test_each_rollback_restores_the_schema_byte_for_byte(tmp_path: Path) -> None:
    """sqlite_master text included: the table rebuilds of 0002/0004 recreate the exact text."""
    db = tmp_path / "monitor.db"
    schemas: dict[int, list[tuple[object, ...]]] = {0: []}
    for version in range(1, HEAD + 1):
        migrate(db, "--target", str(version), "--no-backup")
        schemas[version] = user_schema(db)
    for version in range(HEAD, 0, -1):
        migrate(db, "--rollback", str(version), "--no-backup")
        assert user_schema(db) == schemas[version - 1], f"rollback {version:04d}"


def test_rollback_of_a_table_rebuild_keeps_every_row(sample_db: Path) -> None:
    patients = table_rows(sample_db, "patients")["patients"]
    vitals = table_rows(sample_db, "vitals")["vitals"]
    migrate(sample_db, "--rollback", "2", "--no-backup")
    assert [row[:7] for row in table_rows(sample_db, "patients")["patients"]] == [
        row[:7] for row in patients
    ]
    assert table_rows(sample_db, "vitals")["vitals"] == [row[:9] for row in vitals]
    assert query(sample_db, "PRAGMA foreign_key_check") == []
    # The trigger recreated by the rebuild still guards the MRN.
    conn = sqlite3.connect(sample_db)
    with pytest.raises(sqlite3.IntegrityError, match="cannot change once assigned"):
        conn.execute("UPDATE patients SET mrn = 'MRN-999' WHERE patient_id = 1")
    conn.close()


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("ci.numbering", ()),
        ("ci.lint", ()),
        ("ci.apply_empty", ("--invariants", "schema/invariants.sql")),
        (
            "ci.apply_sample",
            ("--sample", "schema/sample/sample_data.sql", "--invariants", "schema/invariants.sql"),
        ),
        ("ci.rollback_roundtrip", ("--sample", "schema/sample/sample_data.sql")),
    ],
)
def test_the_example_passes_every_check(module: str, args: tuple[str, ...]) -> None:
    done = run_module(module, *args, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def generate(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(GENERATE), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_generator_builds_a_version_4_database_the_checks_accept(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    code, output = generate(
        "--vitals", "3000", "--patients", "60", "--unmapped-share", "0.2", "--out", str(db)
    )
    assert code == 0, output
    assert "vitals 3,000" in output
    assert query(db, "SELECT MAX(version) FROM schema_version") == [(4,)]
    assert query(db, "SELECT COUNT(*), COUNT(patient_mrn) FROM vitals") == [(3000, 0)]
    unidentified = "SELECT patient_id FROM patients WHERE mrn IS NULL"
    assert query(db, f"SELECT COUNT(*) FROM ({unidentified})")[0][0] > 0
    pristine = db.read_bytes()
    done = run_module(
        "ci.apply_sample", "--sample", str(db), "--invariants", str(INVARIANTS), cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert db.read_bytes() == pristine
    migrate(db, "--no-backup")
    code, output = postcheck(db)
    assert code == 0, output
    assert query(db, "SELECT COUNT(*) FROM devices WHERE device_label IS NULL") == [(0,)]
    mapped, unmapped = query(
        db,
        "SELECT COUNT(patient_mrn), SUM(patient_mrn IS NULL) FROM vitals "
        f"WHERE patient_id IN ({unidentified}) OR patient_id NOT IN ({unidentified})",
    )[0]
    assert isinstance(mapped, int) and isinstance(unmapped, int)
    assert mapped + unmapped == 3000 and mapped > 0 and unmapped > 0


def test_generator_is_deterministic_and_writes_sql_fixtures(tmp_path: Path) -> None:
    first, second = tmp_path / "a.sql", tmp_path / "b.sql"
    for out in (first, second):
        code, output = generate("--vitals", "200", "--patients", "10", "--sql", "--out", str(out))
        assert code == 0, output
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text(encoding="utf-8").startswith("-- @sample-version 4\n")
    done = run_module("ci.apply_sample", "--sample", str(first), cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_generator_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "exists.db"
    out.write_bytes(b"keep me")
    code, output = generate("--vitals", "10", "--out", str(out))
    assert code == 2
    assert "exists" in output and "Traceback" not in output
    assert out.read_bytes() == b"keep me"
