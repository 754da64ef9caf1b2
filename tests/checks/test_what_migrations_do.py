"""Issue 17's acceptance, end to end in one real `python -m ci` process: a migration set with a
silent column drop in a rebuild, a column rename, a UNIQUE index on an existing table, a value
wipe and a rollback that changes values is caught, each finding with its file and line (where a
statement is responsible), the column and example rows named, in the JSON report and the JUnit
file; and the worked example stays clean."""

from __future__ import annotations

import json

import xmlschema

from tests.conftest import JUNIT_XSD, REPO, WriteTree, output, run_in

SET: dict[str, str | bytes] = {
    "m/schema/0001_create.sql": (
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, notes TEXT);\n"
        "CREATE TABLE vitals (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    patient_id INTEGER NOT NULL REFERENCES patients (id),\n"
        "    value REAL\n"
        ");\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE vitals;\nDROP TABLE patients;\n",
    "m/schema/0002_rebuild_patients.sql": (
        "-- rebuild patients (the new definition forgets notes)\n"
        "PRAGMA foreign_keys = OFF;\n"
        "CREATE TABLE patients_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
        "INSERT INTO patients_new (id, name) SELECT id, name FROM patients;\n"
        "DROP TABLE patients;\n"
        "ALTER TABLE patients_new RENAME TO patients;\n"
        "PRAGMA foreign_key_check;\n"
    ),
    "m/rollback/0002_rollback.sql": "ALTER TABLE patients ADD COLUMN notes TEXT;\n",
    "m/schema/0003_rename_value.sql": "ALTER TABLE vitals RENAME COLUMN value TO reading;\n",
    "m/rollback/0003_rollback.sql": "ALTER TABLE vitals RENAME COLUMN reading TO value;\n",
    "m/schema/0004_unique_name.sql": "CREATE UNIQUE INDEX patients_name ON patients (name);\n",
    "m/rollback/0004_rollback.sql": "DROP INDEX patients_name;\n",
    "m/data/0005_wipe_readings.sql": (
        "-- @irreversible the readings are gone\n"
        "UPDATE vitals SET reading = NULL WHERE reading > 0;\n"
    ),
    "m/data/0006_upper_names.sql": (
        "-- @rewrites patients(name)\nUPDATE patients SET name = upper(name) WHERE id > 0;\n"
    ),
    "m/rollback/0006_rollback.sql": "UPDATE patients SET name = lower(name) WHERE id > 0;\n",
    "sample.sql": (
        "-- @sample-version 1\n"
        "INSERT INTO patients (id, name, notes) VALUES\n"
        "    (1, 'Ann', 'allergic'), (2, 'Bob', NULL), (3, 'Cy', 'x');\n"
        "INSERT INTO vitals (id, patient_id, value) VALUES\n"
        "    (1, 1, 36.6), (2, 2, 37.1), (3, 3, 38);\n"
    ),
}


def findings_of(report: dict[str, object]) -> dict[str, tuple[str, int | None, str]]:
    """code -> (path relative to the tree, line, message) of the report's findings (one each)."""
    found = {}
    for check in report["checks"]:  # type: ignore[attr-defined]
        for case in check["cases"]:
            for finding in case["findings"]:
                found[finding["code"], finding["path"]] = (finding["line"], finding["message"])
    return {code: (path, line, message) for (code, path), (line, message) in sorted(found.items())}


def test_every_kind_is_caught_with_file_line_column_and_examples(write_tree: WriteTree) -> None:
    root = write_tree(SET)
    done = run_in(
        root, "ci", "--migrations-dir", "m", "--sample", "sample.sql", "--no-sqlfluff",
        "--format", "json", "--junit", "junit.xml",
    )  # fmt: skip
    assert done.returncode == 1, output(done)
    report = json.loads(done.stdout)
    found = findings_of(report)
    rollbacks = [
        (f["path"], f["message"])
        for check in report["checks"]
        for case in check["cases"]
        for f in case["findings"]
        if f["code"] == "MG404"
    ]

    path, line, message = found["MG602"]  # the rebuild that silently leaves `notes` out
    assert (path, line) == ("m/schema/0002_rebuild_patients.sql", 6)
    assert "column patients.notes" in message and "still deployed" in message
    path, line, message = found["MG603"]  # the rename the deployed app does not know
    assert (path, line) == ("m/schema/0003_rename_value.sql", 1)
    assert "vitals.value" in message and "still deployed" in message
    path, line, message = found["MG606"]  # UNIQUE on a table that has rows in production
    assert (path, line) == ("m/schema/0004_unique_name.sql", 1)
    assert "fails on duplicate rows in production even when the sample has none" in message
    path, line, message = found["MG313"]  # the wipe, with the column and the example keys
    assert (path, line) == ("m/data/0005_wipe_readings.sql", 2)
    assert "reading: 3 rows (id=1, id=2, id=3)" in message
    assert (  # the rollback that changes values names the column and example rows
        "m/rollback/0006_rollback.sql",
        "rolling back 0006 does not restore the sample data: table patients: content changed "
        "(same row count): column name: 3 rows (id=1: 'Ann' -> 'ann', id=2: 'Bob' -> 'bob', "
        "id=3: 'Cy' -> 'cy')",
    ) in rollbacks
    xmlschema.XMLSchema(JUNIT_XSD).validate(root / "junit.xml")
    junit = (root / "junit.xml").read_text(encoding="utf-8")
    for code in ("MG602", "MG603", "MG606", "MG313", "MG404"):
        assert code in junit


def test_the_worked_example_stays_clean() -> None:
    done = run_in(REPO, "ci", "--config", "schema/migration-guard.yaml", "--format", "json")
    assert done.returncode == 0, output(done)
    assert not [code for code in findings_of(json.loads(done.stdout))]
