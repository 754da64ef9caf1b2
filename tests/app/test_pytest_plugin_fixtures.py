"""The plugin's fixtures, used by this project's own tests on the worked example
(`schema/migrations`, the default migrations directory of this repository's rootdir).

The plugin is loaded through its `pytest11` entry point, as in any project that installs
migration-guard; these tests are its users.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.app.pytest_databases import MigrationError, MigrationRunner
from tests.conftest import REPO

SAMPLE = "schema/sample/sample_data.sql"  # relative to the rootdir, as a user writes it
DEVICES = (
    "INSERT INTO devices (device_id, serial_number, model, device_label, installed_at) VALUES "
    "(1, 'SN-1', 'M-100', NULL, '2025-01-01T00:00:00Z'), "
    "(2, 'SN-2', 'M-100', 'Bed 4', '2025-01-01T00:00:00Z')"
)


def rows(db: Path | sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    conn = db if isinstance(db, sqlite3.Connection) else sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        if conn is not db:
            conn.close()


def test_migrated_db_is_at_the_head_with_the_seeds_as_the_runner_records_it(
    migrated_db: Callable[..., Path],
) -> None:
    db = migrated_db()
    recorded = rows(db, "SELECT migration_type, version, applied_by FROM schema_version")
    main = [(kind, v) for kind, v, _ in recorded if kind != "seed"]
    seeds = [v for kind, v, _ in recorded if kind == "seed"]
    assert [v for _, v in main] == list(range(1, 8))
    assert seeds == [1, 2]  # a run that ends at the head applies the seeds
    assert {by for _, _, by in recorded} == {"migration-guard 0.1.0"}  # the runner's rows
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_migrated_db_below_the_head_has_no_seeds(migrated_db: Callable[..., Path]) -> None:
    db = migrated_db(version=3)
    assert rows(db, "SELECT MAX(version), COUNT(*) FROM schema_version") == [(3, 3)]
    assert rows(db, "SELECT COUNT(*) FROM settings") == [(0,)]


def test_every_copy_is_the_tests_own(migrated_db: Callable[..., Path]) -> None:
    first, second = migrated_db(version=4, sample=SAMPLE), migrated_db(version=4, sample=SAMPLE)
    assert first != second
    with sqlite3.connect(first) as conn:
        conn.execute("DELETE FROM vitals")
    conn.close()
    assert rows(first, "SELECT COUNT(*) FROM vitals") == [(0,)]
    assert rows(second, "SELECT COUNT(*) FROM vitals") != [(0,)]
    # the sample is at version 4: the data migrations have not run on it yet
    assert rows(second, "SELECT COUNT(*) FROM vitals WHERE patient_mrn IS NOT NULL") == [(0,)]


def test_a_database_file_as_sample_is_copied_never_written(
    migrated_db: Callable[..., Path], migration_runner: MigrationRunner
) -> None:
    migration_runner.up_to(6)
    with migration_runner.connect() as conn:
        conn.execute(DEVICES)
    conn.close()
    before = hashlib.sha256(migration_runner.db.read_bytes()).hexdigest()
    db = migrated_db(sample=migration_runner.db)  # an absolute path is used as it is
    assert rows(db, "SELECT device_id, device_label FROM devices ORDER BY 1") == [
        (1, "DEVICE-001"),  # 0007 backfilled it
        (2, "Bed 4"),
    ]
    assert hashlib.sha256(migration_runner.db.read_bytes()).hexdigest() == before


def test_0007_backfills_only_the_missing_labels_and_its_rollback_only_those(
    migration_runner: MigrationRunner,
) -> None:
    """pytest-alembic's before_revision_data: rows written before 0007, checked after it."""
    assert migration_runner.up_to(6) == 6
    conn = migration_runner.connect()
    with conn:
        conn.execute(DEVICES)
    assert migration_runner.up_to(7) == 7
    labels = "SELECT device_id, device_label, label_source FROM devices ORDER BY 1"
    assert rows(conn, labels) == [(1, "DEVICE-001", "backfill"), (2, "Bed 4", None)]
    assert migration_runner.down_to(6) == 6
    assert rows(conn, labels) == [(1, None, None), (2, "Bed 4", None)]
    assert migration_runner.version == 6


def test_down_to_zero_undoes_every_migration(migration_runner: MigrationRunner) -> None:
    migration_runner.up_to()
    assert migration_runner.down_to(0) == 0
    tables = rows(migration_runner.db, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert sorted(name for (name,) in tables) == ["schema_version", "schema_version_log"]


def test_a_step_that_cannot_be_taken_is_one_line(
    migrated_db: Callable[..., Path], migration_runner: MigrationRunner
) -> None:
    with pytest.raises(MigrationError, match=r"sample_data\.sql:1: .*@sample-version 4"):
        migrated_db(version=2, sample=SAMPLE)
    migration_runner.up_to(1)
    with migration_runner.connect() as conn:
        conn.execute("CREATE TABLE admission_events (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(MigrationError, match=r"schema/0002_add_adt\.sql:\d+: .*already exists"):
        migration_runner.up_to(2)
    assert migration_runner.version == 1


def test_the_fixtures_read_this_repositorys_worked_example(
    migration_runner: MigrationRunner,
) -> None:
    assert migration_runner.catalog.root == REPO / "schema" / "migrations"
