-- rollback 0004: remove vitals.patient_mrn and patients.emergency_contact.
--
-- The partial index on patient_mrn belongs to 0005, whose rollback drops it
-- first.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

ALTER TABLE vitals DROP COLUMN patient_mrn;

ALTER TABLE patients DROP COLUMN emergency_contact;
