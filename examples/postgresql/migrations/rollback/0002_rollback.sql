-- rollback 0002: remove admission_events, its enum, and the ADT columns of
-- patients.
--
-- PostgreSQL drops a column in place (no table rebuild, unlike SQLite): the
-- table keeps its name, its other columns, indexes, trigger and the foreign key
-- of vitals, so patients ends exactly as 0001 made it.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

DROP TABLE admission_events;

DROP TYPE adt_event_type;

ALTER TABLE patients
DROP COLUMN discharged_at,
DROP COLUMN admitted_at,
DROP COLUMN bed_label,
DROP COLUMN admission_status;
