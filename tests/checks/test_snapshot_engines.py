"""The schema snapshot and the invariants of apply_empty / apply_sample, the same scenarios on
each engine (tests/checks/engines.py): a snapshot written, then compared; drift named object by
object in the same words; a missing snapshot and a file that is not one refused in one line; an
invariant that returns rows fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.checks.engines import ENGINES, engine_args, run_check, write
from tests.conftest import MIGRATIONS, REPO, output, run_module

LATER = {
    "schema/0003_phone.sql": (
        "CREATE INDEX idx_vitals_value ON vitals (value);\n"
        "ALTER TABLE patients ADD COLUMN phone text;\n"
    ),
    "rollback/0003_rollback.sql": (
        "DROP INDEX idx_vitals_value;\nALTER TABLE patients DROP COLUMN phone;\n"
    ),
}
DRIFT = "MG307 the migrations do not produce the committed schema snapshot: "


@pytest.mark.parametrize("engine", ENGINES)
def test_drift_against_the_snapshot_names_the_objects(engine: str, tmp_path: Path) -> None:
    root = write(tmp_path, engine, {})
    snapshot = root / "schema.sql"
    done = run_check(
        "ci.apply_empty", root, engine, "--schema-snapshot", "schema.sql", "--write-snapshot"
    )
    assert done.returncode == 0, output(done)
    text = snapshot.read_text(encoding="utf-8")
    assert text.startswith("-- Schema snapshot: ") and "CREATE TABLE vitals" in text
    assert "schema_version" not in text  # the runner's bookkeeping is left out
    done = run_check("ci.apply_empty", root, engine, "--schema-snapshot", "schema.sql")
    assert done.returncode == 0, output(done)
    done = run_check(
        "ci.apply_sample", root, engine, "--sample", "sample.sql", "--schema-snapshot", "schema.sql"
    )
    assert done.returncode == 0, output(done)

    write(tmp_path, engine, LATER)
    done = run_check("ci.apply_empty", root, engine, "--schema-snapshot", "schema.sql")
    assert done.returncode == 1, output(done)
    line = next(line for line in done.stdout.splitlines() if " MG307 " in line)
    assert line.startswith(f"schema.sql: {DRIFT}"), line
    assert "column patients.phone created by the migrations but not in the snapshot" in line
    assert (
        "index idx_vitals_value on vitals created by the migrations but not in the snapshot" in line
    )
    assert "--write-snapshot" in line
    # the change is intended: the snapshot is rewritten (over the earlier one), then it passes
    done = run_check(
        "ci.apply_empty", root, engine, "--schema-snapshot", "schema.sql", "--write-snapshot"
    )
    assert done.returncode == 0, output(done)
    assert "phone" in snapshot.read_text(encoding="utf-8")
    done = run_check("ci.apply_empty", root, engine, "--schema-snapshot", "schema.sql")
    assert done.returncode == 0, output(done)

    for relative in LATER:
        (root / MIGRATIONS / relative).unlink()
    (root / MIGRATIONS / "schema/0002_vitals.sql").write_text("SELECT 1;\n")
    (root / MIGRATIONS / "rollback/0002_rollback.sql").write_text("SELECT 1;\n")
    done = run_check("ci.apply_empty", root, engine, "--schema-snapshot", "schema.sql")
    assert done.returncode == 1, output(done)
    assert "table vitals in the snapshot but not created by the migrations" in done.stdout


@pytest.mark.parametrize("engine", ENGINES)
def test_a_missing_snapshot_or_a_file_that_is_not_one_is_one_line_exit_2(
    engine: str, tmp_path: Path
) -> None:
    root = write(tmp_path, engine, {})
    done = run_check("ci.apply_empty", root, engine, "--schema-snapshot", "missing.sql")
    assert done.returncode == 2, output(done)
    assert done.stderr.strip().endswith(
        "missing.sql: schema snapshot not found; create it with --write-snapshot"
    )
    notes = root / "notes.sql"
    notes.write_text("-- my notes, not a snapshot\n")
    done = run_check(
        "ci.apply_empty", root, engine, "--schema-snapshot", "notes.sql", "--write-snapshot"
    )
    assert done.returncode == 2, output(done)
    assert len(done.stderr.strip().splitlines()) == 1 and "notes.sql" in done.stderr
    assert notes.read_text() == "-- my notes, not a snapshot\n"
    assert "Traceback" not in output(done)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_invariant_that_returns_rows_fails(engine: str, tmp_path: Path) -> None:
    root = write(tmp_path, engine, {})
    (root / "inv.sql").write_text(
        "-- invariant: no_orphans\n"
        "SELECT v.id FROM vitals v LEFT JOIN patients p ON p.id = v.patient_id "
        "WHERE p.id IS NULL;\n"
        "-- invariant: two_patients\n"
        "SELECT 1 WHERE (SELECT count(*) FROM patients) <> 2;\n"
    )
    done = run_check(
        "ci.apply_sample", root, engine, "--sample", "sample.sql", "--invariants", "inv.sql"
    )
    assert done.returncode == 0, output(done)
    done = run_check("ci.apply_empty", root, engine, "--invariants", "inv.sql")
    assert done.returncode == 1, output(done)
    assert "inv.sql:4: MG306 invariant 'two_patients' returned rows: (1,)" in done.stdout
    assert "no_orphans" not in done.stdout


EXAMPLES = {"sqlite": "schema", "postgresql": "examples/postgresql"}


@pytest.mark.parametrize("engine", ENGINES)
def test_the_worked_example_produces_its_committed_snapshot(engine: str) -> None:
    """Each worked example's config names its snapshot and invariants: a migration of the
    example changed without its snapshot fails here, as it would in the README's command."""
    config = f"{EXAMPLES[engine]}/migration-guard.yaml"
    assert "schema_snapshot:" in (REPO / config).read_text(encoding="utf-8")
    options = engine_args(engine)[2:]  # the server; the engine comes from the config
    done = run_module("ci.apply_empty", "--config", config, *options, cwd=REPO, timeout=120)
    assert done.returncode == 0, output(done)
    assert done.stdout.startswith("OK apply_empty:") and "failed" not in done.stdout


@pytest.mark.postgresql
def test_a_sqlite_snapshot_is_not_compared_on_postgresql(tmp_path: Path) -> None:
    """The SQLite example's snapshot given to a PostgreSQL project: one line, exit 2, never a
    wall of differences."""
    root = write(tmp_path, "postgresql", {})
    snapshot = root / "schema.sql"
    snapshot.write_text((REPO / "schema/schema.sql").read_text(encoding="utf-8"))
    done = run_check("ci.apply_empty", root, "postgresql", "--schema-snapshot", "schema.sql")
    assert done.returncode == 2, output(done)
    assert done.stderr.strip() == (
        "apply_empty: schema.sql:1: not a PostgreSQL schema snapshot "
        "(no '-- Written on PostgreSQL N' line); write it with --engine postgresql --write-snapshot"
    )


@pytest.mark.postgresql
def test_drift_against_a_snapshot_of_another_major_version_says_so(tmp_path: Path) -> None:
    root = write(tmp_path, "postgresql", {})
    args = ("--schema-snapshot", "schema.sql")
    done = run_check("ci.apply_empty", root, "postgresql", *args, "--write-snapshot")
    assert done.returncode == 0, output(done)
    snapshot = root / "schema.sql"
    text = snapshot.read_text(encoding="utf-8")
    major = re.search(r"-- Written on PostgreSQL (\d+) ", text)
    assert major is not None, text
    older = int(major[1]) - 1
    snapshot.write_text(
        text.replace(major[0], f"-- Written on PostgreSQL {older} ").replace(
            "    mrn text,\n", "    mrn character varying(20),\n"
        )
    )
    done = run_check("ci.apply_empty", root, "postgresql", *args)
    assert done.returncode == 1, output(done)
    assert (
        "column patients.mrn: character varying(20) in the snapshot, text from the migrations"
        in done.stdout
    ), output(done)
    assert f"(it was written on PostgreSQL {older}, this server is {major[1]}: " in done.stdout
