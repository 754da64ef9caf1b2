-- Invariants of the worked PostgreSQL example at head (after 0008 and the
-- seeds).
--
-- Each `-- invariant: <name>` is followed by one query that must return no
-- rows; what it returns are the offending rows, so a failure shows them. Run by
-- `ci.apply_empty`, `ci.apply_sample` and `ci.postcheck --invariants
-- examples/postgresql/invariants.sql`. The schema holds one of the SQLite
-- example's invariants itself: alarm_limits_ordered is a CHECK constraint
-- here.

-- invariant: vitals_have_mrn
-- After 0006, every vitals row of a patient who has an MRN carries it (DOC-
-- PROC-006 6).
SELECT
    v.vital_id,
    v.patient_id
FROM vitals AS v
INNER JOIN patients AS p ON v.patient_id = p.patient_id
WHERE p.mrn IS NOT NULL AND v.patient_mrn IS NULL;

-- invariant: vitals_mrn_matches_patient
-- A copied MRN is the patient's own, never another patient's.
SELECT
    v.vital_id,
    v.patient_mrn,
    p.mrn
FROM vitals AS v
INNER JOIN patients AS p ON v.patient_id = p.patient_id
WHERE v.patient_mrn IS NOT NULL AND v.patient_mrn IS DISTINCT FROM p.mrn;

-- invariant: admission_events_normalised
-- After 0007, every ADT event has its normalised type.
SELECT
    event_id,
    event_code
FROM admission_events
WHERE event_type IS NULL;

-- invariant: devices_labelled
-- After 0008, every device has a label the central station can show.
SELECT
    device_id,
    serial_number
FROM devices
WHERE device_label IS NULL OR btrim(device_label) = '';

-- invariant: default_settings_present
-- seed/0001 ran: the settings the monitor reads at start-up exist.
SELECT required.column1 AS missing_key
FROM (
    VALUES
    ('deviceLabel'),
    ('measurementUnit'),
    ('alarmVolume'),
    ('vitalsIntervalSeconds'),
    ('telemetryServerUrl')
) AS required
WHERE required.column1 NOT IN (SELECT s.key FROM settings AS s);

-- invariant: alarm_thresholds_present
-- seed/0002 ran: every vital sign the monitor measures has alarm limits.
SELECT required.column1 AS missing_vital_sign
FROM (
    VALUES
    ('heart_rate'),
    ('spo2'),
    ('resp_rate'),
    ('temperature_c'),
    ('systolic_bp'),
    ('diastolic_bp')
) AS required
WHERE required.column1 NOT IN (SELECT t.vital_sign FROM alarm_thresholds AS t);

-- invariant: discharged_after_admitted
-- ADT state on patients is consistent: no discharge before the admission.
SELECT
    patient_id,
    admitted_at,
    discharged_at
FROM patients
WHERE
    discharged_at IS NOT NULL
    AND (admitted_at IS NULL OR discharged_at < admitted_at);
