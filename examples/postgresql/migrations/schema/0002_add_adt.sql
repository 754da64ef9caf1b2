-- 0002 add ADT: admission, discharge and transfer data from the hospital's HL7
-- ADT feed.
--
-- patients gets the current ADT state. Each column is added NULL or with a
-- constant default: PostgreSQL stores such a default in the catalog, so the
-- change is instant on a large table (no rewrite). That a discharge follows
-- the admission is an invariant (invariants.sql), not a CHECK: adding a CHECK
-- to a live table scans it while writes wait, and NOT VALID + VALIDATE in the
-- same transaction would not help.
--
-- admission_events keeps every ADT message: `event_code` is the trigger event
-- exactly as the interface engine delivered it ('A01', 'ADT^A01', 'a03 ',
-- ...); `event_type` is its normalised form, filled for history by data
-- migration 0007.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

CREATE TYPE adt_event_type AS ENUM (
    'admit', 'transfer', 'discharge', 'cancel_admit', 'update'
);

ALTER TABLE patients
ADD COLUMN admission_status text NOT NULL DEFAULT 'not_admitted';
ALTER TABLE patients ADD COLUMN bed_label text NULL;
ALTER TABLE patients ADD COLUMN admitted_at timestamptz NULL;
ALTER TABLE patients ADD COLUMN discharged_at timestamptz NULL;

CREATE TABLE admission_events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES patients (patient_id),
    event_code text NOT NULL,
    event_type adt_event_type,
    bed_label text,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_admission_events_patient ON admission_events (
    patient_id, occurred_at
);
