-- 0004 add emergency contact, and prepare vitals for the MRN migration.
--
-- patients.emergency_contact is the seed document's example (DOC-PROC-006 4.1),
-- without its BEGIN/COMMIT: the runner owns the transaction.
--
-- vitals.patient_mrn stays NULL until data migration 0006 fills it from
-- patients.mrn. Both columns are nullable without a default: adding them
-- rewrites nothing.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

ALTER TABLE patients ADD COLUMN emergency_contact text NULL;

ALTER TABLE vitals ADD COLUMN patient_mrn text NULL;
