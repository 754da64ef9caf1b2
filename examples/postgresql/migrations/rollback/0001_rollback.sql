-- rollback 0001: remove the core tables (and every row in them), then the
-- function and the types they used.
--
-- Children before parents: vitals references patients. A table takes its
-- indexes, triggers and identity sequences with it; the trigger's function
-- and the enums go after the last column that used them.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

DROP TABLE alarm_thresholds;

DROP TABLE settings;

DROP TABLE vitals;

DROP TABLE patients;

DROP FUNCTION patients_mrn_immutable();

DROP TYPE alarm_priority;

DROP TYPE patient_sex;
