-- 0002 add ADT: admission, discharge and transfer data from the hospital's HL7
-- ADT feed.
--
-- patients gets the current ADT state (columns added at the end, NULL or with a
-- default, so the change is instant on a large table). admission_events keeps
-- every ADT message: `event_code` is the trigger event exactly as the interface
-- engine delivered it ('A01', 'ADT^A01', 'a03 ', ...); `event_type` is its
-- normalised form, filled for history by data migration 0006.

ALTER TABLE patients
ADD COLUMN admission_status TEXT NOT NULL DEFAULT 'not_admitted';
ALTER TABLE patients ADD COLUMN bed_label TEXT NULL;
ALTER TABLE patients ADD COLUMN admitted_at TEXT NULL;
ALTER TABLE patients ADD COLUMN discharged_at TEXT NULL;

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

CREATE INDEX idx_admission_events_patient ON admission_events (
    patient_id, occurred_at
);
