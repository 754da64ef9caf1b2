-- Schema snapshot: the schema the migrations produce (runner bookkeeping left out).
-- Written by `python -m ci.apply_empty --write-snapshot`; a difference fails apply_empty.

CREATE TABLE admission_events (
    event_id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients (patient_id),
    event_code TEXT NOT NULL,
    event_type TEXT CHECK (
        event_type IN (
            'admit', 'transfer', 'discharge', 'cancel_admit', 'update'
        )
    ),
    bed_label TEXT,
    occurred_at TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE TABLE alarm_thresholds (
    vital_sign TEXT PRIMARY KEY,
    low_limit REAL,
    high_limit REAL,
    priority TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    updated_at TEXT NOT NULL
);

CREATE TABLE devices (
    device_id INTEGER PRIMARY KEY,
    serial_number TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    device_label TEXT,
    label_source TEXT CHECK (label_source IN ('user', 'backfill')),
    installed_at TEXT NOT NULL
);

CREATE TABLE patients (
    patient_id INTEGER PRIMARY KEY,
    mrn TEXT UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth TEXT,
    sex TEXT CHECK (sex IN ('F', 'M', 'X', 'U')),
    created_at TEXT NOT NULL
, admission_status TEXT NOT NULL DEFAULT 'not_admitted', bed_label TEXT NULL, admitted_at TEXT NULL, discharged_at TEXT NULL, emergency_contact TEXT NULL);

CREATE TABLE settings (
    key TEXT PRIMARY KEY, -- noqa: RF04 (the seed document's column name)
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE telemetry_metrics (
    metric_id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices (device_id),
    batch_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    record_count INTEGER NOT NULL CHECK (record_count >= 0),
    latency_ms INTEGER,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed', 'retried'))
);

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
, patient_mrn TEXT NULL);

CREATE INDEX idx_admission_events_patient ON admission_events (
    patient_id, occurred_at
);

CREATE INDEX idx_telemetry_metrics_device_time ON telemetry_metrics (
    device_id, sent_at
);

CREATE INDEX idx_vitals_mrn_pending ON vitals (vital_id)
WHERE patient_mrn IS NULL;

CREATE INDEX idx_vitals_patient_time ON vitals (patient_id, recorded_at);

CREATE TRIGGER trg_patients_mrn_immutable
BEFORE UPDATE OF mrn ON patients
WHEN old.mrn IS NOT NULL AND new.mrn IS NOT old.mrn
BEGIN
    SELECT RAISE(ABORT, 'patients.mrn cannot change once assigned');
END;
