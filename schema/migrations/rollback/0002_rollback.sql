-- rollback 0002: remove admission_events and the ADT columns of patients.
--
-- SQLite's table rebuild
-- (https://www.sqlite.org/lang_altertable.html#otheralter), done so the table
-- keeps its name throughout: copy the rows aside, drop the table, create it
-- again with exactly the CREATE TABLE text 0001 wrote, copy the rows back,
-- recreate its trigger. No RENAME: renaming the old table away rewrites the
-- foreign key of vitals to follow it, and renaming a new table into place
-- stores its name quoted (CREATE TABLE "patients"), so the schema would differ
-- from the one 0001 produced. Foreign keys are off for the file (the runner
-- honours the PRAGMA at the top, outside the transaction) because vitals keeps
-- pointing at patients while it is rebuilt; foreign_key_check proves nothing
-- dangles.

PRAGMA foreign_keys = OFF;

DROP INDEX idx_admission_events_patient;

DROP TABLE admission_events;

CREATE TEMP TABLE patients_backup AS
SELECT
    patient_id,
    mrn,
    first_name,
    last_name,
    date_of_birth,
    sex,
    created_at
FROM patients;

DROP TABLE patients;

CREATE TABLE patients (
    patient_id INTEGER PRIMARY KEY,
    mrn TEXT UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth TEXT,
    sex TEXT CHECK (sex IN ('F', 'M', 'X', 'U')),
    created_at TEXT NOT NULL
);

INSERT INTO patients (
    patient_id, mrn, first_name, last_name, date_of_birth, sex, created_at
)
SELECT
    patient_id,
    mrn,
    first_name,
    last_name,
    date_of_birth,
    sex,
    created_at
FROM patients_backup;

DROP TABLE patients_backup;

CREATE TRIGGER trg_patients_mrn_immutable
BEFORE UPDATE OF mrn ON patients
WHEN old.mrn IS NOT NULL AND new.mrn IS NOT old.mrn
BEGIN
    SELECT RAISE(ABORT, 'patients.mrn cannot change once assigned');
END;

PRAGMA foreign_key_check;
