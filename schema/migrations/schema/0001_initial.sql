-- 0001 initial: the monitor's core tables.
--
-- patients: one row per patient known to this monitor. `mrn` (medical record
-- number) is NULL until registration assigns one (an unidentified emergency
-- admission has none yet). vitals: one row per measurement set, keyed to the
-- patient by the local `patient_id`. settings: key/value device configuration
-- (seeded by seed/0001). alarm_thresholds: alarm limits per vital sign (seeded
-- by seed/0002).

CREATE TABLE patients (
    patient_id INTEGER PRIMARY KEY,
    mrn TEXT UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth TEXT,
    sex TEXT CHECK (sex IN ('F', 'M', 'X', 'U')),
    created_at TEXT NOT NULL
);

CREATE TRIGGER trg_patients_mrn_immutable
BEFORE UPDATE OF mrn ON patients
WHEN old.mrn IS NOT NULL AND new.mrn IS NOT old.mrn
BEGIN
    SELECT RAISE(ABORT, 'patients.mrn cannot change once assigned');
END;

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

CREATE INDEX idx_vitals_patient_time ON vitals (patient_id, recorded_at);

CREATE TABLE settings (
    key TEXT PRIMARY KEY, -- noqa: RF04 (the seed document's column name)
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE alarm_thresholds (
    vital_sign TEXT PRIMARY KEY,
    low_limit REAL,
    high_limit REAL,
    priority TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    updated_at TEXT NOT NULL
);
