"""The failing, passing and silenced cases of each schema-change code (MG601-MG609), as data.

Each case is two migrations: `before` builds the schema, `change` is the migration analysed.
"fail": `change` is reported with the code; "pass": it is not; "silenced": a `-- noqa` on the
responsible statement waives it. tests/checks/test_schema_changes_cases.py runs them all through
`python -m ci.apply_empty`, as a user would, and the line of each finding is checked against
`line` when given (the statement responsible, 1-based in `change`), and its message must hold
`says` when given.
"""

from __future__ import annotations

from ci.checks.schema_case_sql import (
    AUDITED,
    FTS,
    GENERATED,
    NAMED,
    PATIENTS,
    RENAME_OLD_AWAY,
    RTREE,
    VISITS,
    VISITS_KEY,
    SchemaCase,
    rebuild,
    regenerate,
)

CASES: dict[str, tuple[SchemaCase, ...]] = {
    "MG601": (
        SchemaCase("table dropped", PATIENTS, "DROP TABLE patients;\n", "fail", 1),
        SchemaCase(
            "waived for lint's MG503 too",
            PATIENTS,
            "-- noqa: MG503 unused since release 4.2\nDROP TABLE patients;\n",
            "silenced",
        ),
        SchemaCase(
            "silenced",
            PATIENTS,
            "DROP TABLE patients; -- noqa: MG601 archived in 0011\n",
            "silenced",
        ),
        SchemaCase("a new table is no finding", "", PATIENTS, "pass"),
        SchemaCase(
            "a virtual table dropped and created again with the same SQL: its rows are gone",
            FTS,
            "DROP TABLE docs;\nCREATE VIRTUAL TABLE docs USING fts5(body);\n",
            "fail",
            1,
            "table docs: table rebuilt: (columns: body): same definition",
        ),
        SchemaCase(
            "an R*Tree dropped and created again",
            RTREE,
            "DROP TABLE boxes;\nCREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1);\n",
            "fail",
            1,
        ),
        SchemaCase(
            "a table dropped and created again, nothing put back",
            PATIENTS,
            "DROP TABLE patients;\n" + PATIENTS,
            "fail",
            1,
            "no statement of the migration puts rows back",
        ),
        SchemaCase(
            "a table dropped and created again, its rows put back from a copy",
            PATIENTS,
            "CREATE TABLE keep AS SELECT * FROM patients;\nDROP TABLE patients;\n"
            + PATIENTS
            + "INSERT INTO patients SELECT * FROM keep;\nDROP TABLE keep;\n",
            "pass",
        ),
        SchemaCase(
            "a virtual table rebuilt and filled again",
            FTS,
            "DROP TABLE docs;\nCREATE VIRTUAL TABLE docs USING fts5(body);\n"
            "INSERT INTO docs (body) SELECT name FROM patients;\n",
            "pass",
        ),
    ),
    "MG602": (
        SchemaCase(
            "a rebuild leaves notes out",
            PATIENTS,
            rebuild("mrn TEXT", "mrn"),
            "fail",
            4,
        ),
        SchemaCase("DROP COLUMN", PATIENTS, "ALTER TABLE patients DROP COLUMN notes;\n", "fail", 1),
        SchemaCase(
            "a rebuild that keeps every column",
            PATIENTS,
            rebuild("notes TEXT, mrn TEXT", "notes, mrn"),
            "pass",
        ),
        SchemaCase(
            "silenced",
            PATIENTS,
            "-- noqa: MG602 notes moved to patient_notes in 0010\n"
            "ALTER TABLE patients DROP COLUMN notes;\n",
            "silenced",
        ),
    ),
    "MG603": (
        SchemaCase(
            "RENAME COLUMN",
            PATIENTS,
            "ALTER TABLE patients RENAME COLUMN notes TO remarks;\n",
            "fail",
            1,
        ),
        SchemaCase("RENAME TO", PATIENTS, "ALTER TABLE patients RENAME TO people;\n", "fail", 1),
        SchemaCase(
            "a rebuild under another column name",
            PATIENTS,
            rebuild("remarks TEXT, mrn TEXT", "notes, mrn"),
            "fail",
            4,
        ),
        SchemaCase(
            "ADD COLUMN", PATIENTS, "ALTER TABLE patients ADD COLUMN remarks TEXT;\n", "pass"
        ),
        SchemaCase(
            "silenced",
            PATIENTS,
            "-- noqa: MG603 the app reads both names since 4.1\n"
            "ALTER TABLE patients RENAME COLUMN notes TO remarks;\n",
            "silenced",
        ),
    ),
    "MG604": (
        SchemaCase(
            "type changed", PATIENTS, rebuild("notes BLOB, mrn TEXT", "notes, mrn"), "fail", 4
        ),
        SchemaCase(
            "collation changed",
            PATIENTS,
            rebuild("notes TEXT, mrn TEXT COLLATE NOCASE", "notes, mrn"),
            "fail",
            4,
        ),
        SchemaCase(
            "default changed",
            PATIENTS,
            rebuild("notes TEXT DEFAULT '', mrn TEXT", "notes, mrn"),
            "fail",
        ),
        SchemaCase(
            "a generated column turned plain (its values not copied)",
            GENERATED,
            regenerate("up TEXT"),
            "fail",
            4,
        ),
        SchemaCase(
            "a generated column's expression changed",
            GENERATED,
            regenerate("up TEXT GENERATED ALWAYS AS (lower(name)) STORED"),
            "fail",
            4,
        ),
        SchemaCase(
            "AUTOINCREMENT dropped by a rebuild",
            PATIENTS.replace("PRIMARY KEY", "PRIMARY KEY AUTOINCREMENT"),
            rebuild("notes TEXT, mrn TEXT", "notes, mrn"),
            "fail",
            4,
        ),
        SchemaCase(
            "a generated column kept, other spelling",
            GENERATED,
            regenerate("up TEXT AS ( upper(name) ) STORED"),
            "pass",
        ),
        SchemaCase(
            "same definition, other spelling",
            PATIENTS,
            rebuild('"notes" text, mrn TEXT', "notes, mrn"),
            "pass",
        ),
    ),
    "MG605": (
        SchemaCase(
            "NOT NULL added by a rebuild",
            PATIENTS,
            rebuild("notes TEXT NOT NULL DEFAULT '', mrn TEXT", "coalesce(notes, ''), mrn"),
            "fail",
            4,
        ),
        SchemaCase(
            "a new NOT NULL column with a default",
            PATIENTS,
            "ALTER TABLE patients ADD COLUMN status TEXT NOT NULL DEFAULT 'new';\n",
            "pass",
        ),
    ),
    "MG606": (
        SchemaCase(
            "UNIQUE index on an existing table",
            PATIENTS,
            "CREATE UNIQUE INDEX idx_patients_mrn ON patients (mrn);\n",
            "fail",
            1,
        ),
        SchemaCase(
            "UNIQUE constraint by a rebuild",
            PATIENTS,
            rebuild("notes TEXT, mrn TEXT UNIQUE", "notes, mrn"),
            "fail",
        ),
        SchemaCase(
            "a noqa on another statement waives nothing",
            PATIENTS,
            "-- noqa: MG606 not this one\nCREATE INDEX idx_patients_notes ON patients (notes);\n"
            "CREATE UNIQUE INDEX idx_patients_mrn ON patients (mrn);\n",
            "fail",
            3,
        ),
        SchemaCase(
            "UNIQUE index on a new table",
            "",
            PATIENTS + "CREATE UNIQUE INDEX idx_patients_mrn ON patients (mrn);\n",
            "pass",
        ),
        SchemaCase(
            "silenced",
            PATIENTS,
            "-- noqa: MG606 0011 removed the duplicates; production checked\n"
            "CREATE UNIQUE INDEX idx_patients_mrn ON patients (mrn);\n",
            "silenced",
        ),
    ),
    "MG607": (
        SchemaCase(
            "CHECK added by a rebuild",
            PATIENTS,
            rebuild("notes TEXT, mrn TEXT CHECK (length(mrn) = 8)", "notes, mrn"),
            "fail",
            4,
        ),
        SchemaCase(
            "the CHECK is shown as written, not as tokens",
            PATIENTS,
            rebuild("notes TEXT, mrn TEXT CHECK(length( mrn )=8 AND\n  mrn<>'A  B')", "notes, mrn"),
            "fail",
            5,
            "CHECK (length( mrn )=8 AND mrn<>'A  B') added or changed",
        ),
        SchemaCase(
            "foreign key added by a rebuild",
            "CREATE TABLE wards (id INTEGER PRIMARY KEY);\n" + PATIENTS,
            rebuild("notes TEXT, mrn TEXT REFERENCES wards (id)", "notes, mrn"),
            "fail",
        ),
        SchemaCase(
            "a table rebuilt STRICT",
            PATIENTS,
            rebuild("notes TEXT, mrn TEXT", "notes, mrn").replace("TEXT);", "TEXT) STRICT;"),
            "fail",
            4,
        ),
        SchemaCase(
            "STRICT taken off by a rebuild",
            PATIENTS.replace("TEXT);", "TEXT) /* not strict yet */ STRICT;"),
            rebuild("notes TEXT, mrn TEXT", "notes, mrn").replace("TEXT);", "TEXT) /* strict */;"),
            "pass",
        ),
        SchemaCase(
            "CHECK on a new table",
            "",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0));\n",
            "pass",
        ),
    ),
    "MG608": (
        SchemaCase("index dropped", PATIENTS, "DROP INDEX idx_patients_name;\n", "fail", 1),
        SchemaCase(
            "a rebuild forgets the index",
            PATIENTS,
            rebuild("notes TEXT, mrn TEXT", "notes, mrn").replace(
                "CREATE INDEX idx_patients_name ON patients (name);\n", ""
            ),
            "fail",
        ),
        SchemaCase(
            "view redefined",
            PATIENTS + "CREATE VIEW named AS SELECT id, name FROM patients;\n",
            "DROP VIEW named;\nCREATE VIEW named AS SELECT id FROM patients;\n",
            "fail",
            2,
        ),
        SchemaCase(
            "a new index", PATIENTS, "CREATE INDEX idx_patients_mrn ON patients (mrn);\n", "pass"
        ),
        SchemaCase(
            "silenced",
            PATIENTS,
            "DROP INDEX idx_patients_name; -- noqa: MG608 no query filters by name since 4.0\n",
            "silenced",
        ),
    ),
    "MG609": (
        SchemaCase(
            "RENAME the old table away: the foreign key and trigger follow it, then it is dropped",
            PATIENTS + VISITS,
            RENAME_OLD_AWAY,
            "fail",
            1,
        ),
        SchemaCase(
            "the recommended rebuild keeps the references on patients",
            PATIENTS + VISITS_KEY,
            rebuild("notes TEXT, mrn TEXT", "notes, mrn"),
            "pass",
        ),
        SchemaCase(
            "a trigger redefined to use another existing table",
            PATIENTS + VISITS + "CREATE TABLE audit (pid INTEGER);\n",
            "DROP TRIGGER tr;\nCREATE TRIGGER tr AFTER INSERT ON visits BEGIN\n"
            "  INSERT INTO audit SELECT pid FROM json_each('[1]') JOIN visits ON visits.pid = 1;\n"
            "END;\n",
            "pass",
        ),
        SchemaCase(
            "silenced",
            PATIENTS + VISITS,
            "-- noqa: MG609 visits and tr are recreated in 0012\n" + RENAME_OLD_AWAY,
            "silenced",
        ),
        SchemaCase(
            "a view a RENAME rewrote to the old table, which is then dropped",
            PATIENTS + NAMED,
            RENAME_OLD_AWAY,
            "fail",
            1,
            "view named: view left reading a missing table: it reads patients_old",
        ),
        SchemaCase(
            "a view left reading a table dropped",
            PATIENTS + NAMED,
            "DROP TABLE patients;\n",
            "fail",
            1,
            "view named: view left reading a missing table: it reads patients,",
        ),
        SchemaCase(
            "a view left reading a view dropped",
            PATIENTS + NAMED + "CREATE VIEW short AS SELECT name FROM named;\n",
            "CREATE TABLE other (id INTEGER);\nDROP VIEW named;\n",
            "fail",
            2,
            "view short: view left reading a missing table: it reads named",
        ),
        SchemaCase(
            "a trigger left using a table dropped (UPDATE OR IGNORE, UPDATE OF)",
            AUDITED,
            "DROP TABLE audit;\n",
            "fail",
            1,
            "trigger tr: trigger left using a missing table: it uses audit",
        ),
        SchemaCase(
            "a trigger on a table whose foreign key is left dangling too",
            PATIENTS
            + VISITS_KEY
            + "CREATE TABLE audit (pid INTEGER);\n"
            + "CREATE TRIGGER va AFTER DELETE ON visits BEGIN\n"
            + "  INSERT INTO audit VALUES (old.pid);\nEND;\n",
            "DROP TABLE audit;\nDROP TABLE patients;\n",
            "fail",
            1,
            "trigger va: trigger left using a missing table: it uses audit",
        ),
        SchemaCase(
            "a foreign key left pointing at a table dropped",
            PATIENTS + VISITS_KEY,
            "DROP TABLE patients;\n",
            "fail",
            1,
            "foreign key (pid) points at patients",
        ),
        SchemaCase(
            "the view is created again after the rebuild",
            PATIENTS + NAMED,
            RENAME_OLD_AWAY + "DROP VIEW named;\n" + NAMED,
            "pass",
        ),
        SchemaCase(
            "a view that names the dropped table in a string only",
            AUDITED.replace("UPDATE OR IGNORE audit SET pid = new.id", "SELECT 'audit'"),
            "DROP TABLE audit;\n"
            "CREATE VIEW sources AS SELECT 'audit' AS source, id FROM patients;\n",
            "pass",
        ),
    ),
}
