"""The SQL the schema-change cases (ci.checks.schema_cases) are made of, and the case record."""

from __future__ import annotations

from typing import NamedTuple

PATIENTS = (
    "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, notes TEXT, mrn TEXT);\n"
    "CREATE INDEX idx_patients_name ON patients (name);\n"
)
REBUILD_HEAD = "CREATE TABLE patients_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
REBUILD_TAIL = (
    "DROP TABLE patients;\n"
    "ALTER TABLE patients_new RENAME TO patients;\n"
    "CREATE INDEX idx_patients_name ON patients (name);\n"
    "PRAGMA foreign_key_check;\n"
)


GENERATED = (
    "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "up TEXT GENERATED ALWAYS AS (upper(name)) STORED);\n"
)


def regenerate(up: str) -> str:
    """A rebuild of GENERATED's patients with column `up` defined as `up`, copying id, name."""
    return (
        f"{REBUILD_HEAD}{up});\n"
        "INSERT INTO patients_new (id, name) SELECT id, name FROM patients;\n"
        "DROP TABLE patients;\nALTER TABLE patients_new RENAME TO patients;\n"
    )


VISITS_KEY = "CREATE TABLE visits (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES patients (id));\n"
VISITS = VISITS_KEY + (
    "CREATE TRIGGER tr AFTER INSERT ON visits BEGIN\n"
    "  UPDATE patients SET notes = 'seen' WHERE id = new.pid;\nEND;\n"
)
RENAME_OLD_AWAY = (
    "ALTER TABLE patients RENAME TO patients_old;\n"
    "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, notes TEXT, mrn TEXT);\n"
    "INSERT INTO patients SELECT * FROM patients_old;\n"
    "DROP TABLE patients_old;\n"
    "CREATE INDEX idx_patients_name ON patients (name);\n"
)


FTS = PATIENTS + "CREATE VIRTUAL TABLE docs USING fts5(body);\n"
RTREE = "CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1);\n"


NAMED = "CREATE VIEW named AS SELECT id, name FROM patients;\n"
AUDITED = PATIENTS + (
    "CREATE TABLE audit (pid INTEGER);\n"
    "CREATE TRIGGER tr AFTER UPDATE OF name ON patients BEGIN\n"
    "  UPDATE OR IGNORE audit SET pid = new.id;\nEND;\n"
)


class SchemaCase(NamedTuple):
    name: str
    before: str
    change: str
    expect: str  # "fail", "pass" or "silenced"
    line: int | None = None
    says: str | None = None  # a part of the finding's message


def rebuild(columns: str, copied: str) -> str:
    """SQLite's table rebuild of `patients` with `columns` after id and name."""
    return (
        f"{REBUILD_HEAD}{columns});\n"
        f"INSERT INTO patients_new SELECT id, name, {copied} FROM patients;\n{REBUILD_TAIL}"
    )
