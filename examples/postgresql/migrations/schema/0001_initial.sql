-- 0001 initial: the monitor's core tables.
--
-- patients: one row per patient known to this monitor. `mrn` (medical record
-- number) is NULL until registration assigns one (an unidentified emergency
-- admission has none yet), and has the hospital's format 'MRN-' + 6 digits.
-- vitals: one row per measurement set, keyed to the patient by the local
-- `patient_id`. settings: key/value device configuration (seeded by
-- seed/0001). alarm_thresholds: alarm limits per vital sign (seeded by
-- seed/0002).
--
-- Identity columns (GENERATED ALWAYS: the application never picks an id),
-- timestamptz for every instant, enums for closed vocabularies, CHECKs for
-- the rest.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

CREATE TYPE patient_sex AS ENUM ('F', 'M', 'X', 'U');

CREATE TYPE alarm_priority AS ENUM ('low', 'medium', 'high');

CREATE TABLE patients (
    patient_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mrn text UNIQUE
    CONSTRAINT patients_mrn_format CHECK (mrn ~ '^MRN-[0-9]{6}$'),
    first_name text NOT NULL,
    last_name text NOT NULL,
    date_of_birth date,
    sex patient_sex,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- An MRN, once assigned, is how every other system finds the patient.
CREATE FUNCTION patients_mrn_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'patients.mrn cannot change once assigned'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER trg_patients_mrn_immutable
BEFORE UPDATE OF mrn ON patients
FOR EACH ROW
WHEN (old.mrn IS NOT NULL AND new.mrn IS DISTINCT FROM old.mrn)
EXECUTE FUNCTION patients_mrn_immutable();

CREATE TABLE vitals (
    vital_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES patients (patient_id),
    recorded_at timestamptz NOT NULL,
    heart_rate integer,
    spo2 integer CHECK (spo2 BETWEEN 0 AND 100),
    resp_rate integer,
    temperature_c numeric(4, 1),
    systolic_bp integer,
    diastolic_bp integer
);

CREATE INDEX idx_vitals_patient_time ON vitals (patient_id, recorded_at);

CREATE TABLE settings (
    key text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alarm_thresholds (
    vital_sign text PRIMARY KEY,
    low_limit numeric,
    high_limit numeric,
    priority alarm_priority NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- a low limit above the high limit would silence the alarm
    CONSTRAINT alarm_limits_ordered CHECK (low_limit < high_limit)
);
