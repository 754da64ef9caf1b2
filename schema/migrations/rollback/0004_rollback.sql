-- rollback 0004: remove vitals.patient_mrn, its index and
-- patients.emergency_contact.
--
-- Two table rebuilds, done as in rollback 0002 (copy aside, drop, create again
-- under the same name, copy back, recreate indexes and triggers) so both tables
-- end with exactly the schema they had before 0004. The CREATE TABLE text of
-- patients is the text SQLite stored after the ADD COLUMNs of 0002, byte for
-- byte, which is why its last line looks the way it does.

PRAGMA foreign_keys = OFF;

DROP INDEX idx_vitals_mrn_pending;

CREATE TEMP TABLE vitals_backup AS
SELECT
    vital_id,
    patient_id,
    recorded_at,
    heart_rate,
    spo2,
    resp_rate,
    temperature_c,
    systolic_bp,
    diastolic_bp
FROM vitals;

DROP TABLE vitals;

CREATE TABLE vitals (
    vital_id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients (patient_id),
    recorded_at TEXT NOT NULL,
    heart_rate INTEGER,
    spo2 INTEGER,
    resp_rate INTEGER,
    temperature_c REAL,
    systolic_bp INTEGER,
    diastolic_bp INTEGER
);

INSERT INTO vitals (
    vital_id,
    patient_id,
    recorded_at,
    heart_rate,
    spo2,
    resp_rate,
    temperature_c,
    systolic_bp,
    diastolic_bp
)
SELECT
    vital_id,
    patient_id,
    recorded_at,
    heart_rate,
    spo2,
    resp_rate,
    temperature_c,
    systolic_bp,
    diastolic_bp
FROM vitals_backup;

DROP TABLE vitals_backup;

CREATE INDEX idx_vitals_patient_time ON vitals (patient_id, recorded_at);

CREATE TEMP TABLE patients_backup AS
SELECT
    patient_id,
    mrn,
    first_name,
    last_name,
    date_of_birth,
    sex,
    created_at,
    admission_status,
    bed_label,
    admitted_at,
    discharged_at
FROM patients;

DROP TABLE patients;

-- noqa: disable=all
CREATE TABLE patients (
    patient_id INTEGER PRIMARY KEY,
    mrn TEXT UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth TEXT,
    sex TEXT CHECK (sex IN ('F', 'M', 'X', 'U')),
    created_at TEXT NOT NULL
, admission_status TEXT NOT NULL DEFAULT 'not_admitted', bed_label TEXT NULL, admitted_at TEXT NULL, discharged_at TEXT NULL);
-- noqa: enable=all

INSERT INTO patients (
    patient_id,
    mrn,
    first_name,
    last_name,
    date_of_birth,
    sex,
    created_at,
    admission_status,
    bed_label,
    admitted_at,
    discharged_at
)
SELECT
    patient_id,
    mrn,
    first_name,
    last_name,
    date_of_birth,
    sex,
    created_at,
    admission_status,
    bed_label,
    admitted_at,
    discharged_at
FROM patients_backup;

DROP TABLE patients_backup;

CREATE TRIGGER trg_patients_mrn_immutable
BEFORE UPDATE OF mrn ON patients
WHEN old.mrn IS NOT NULL AND new.mrn IS NOT old.mrn
BEGIN
    SELECT RAISE(ABORT, 'patients.mrn cannot change once assigned');
END;

PRAGMA foreign_key_check;
