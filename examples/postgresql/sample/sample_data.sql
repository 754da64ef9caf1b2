-- @sample-version 5
--
-- Sample data for the worked PostgreSQL example, as the application writes it
-- at schema version 5 (after the index of 0005, before data migrations
-- 0006-0008): the same rows as the SQLite example's sample. Loaded by
-- `ci.apply_sample --sample` after migrating a fresh database to version 5;
-- the checks then apply 0006-0008 and the seeds on top of it and run
-- examples/postgresql/invariants.sql.
--
-- What it exercises:
-- * 0006: vitals of six patients with an MRN (filled) and of two patients
--   without one yet (patient_id 7 and 8, unidentified emergency admissions:
--   patient_mrn stays NULL);
-- * 0007: admission events in every spelling the ADT feed produced;
-- * 0008: two unlabelled devices, one labelled by a user, one labelled before
--   label_source;
-- * seeds: a user-changed setting and alarm limit that the seeds must not
--   overwrite.
--
-- The ids are the application's own (OVERRIDING SYSTEM VALUE: the identity
-- columns are GENERATED ALWAYS); the setval calls at the end move each
-- identity past them, as a pg_dump of the application's database would.

INSERT INTO patients (
    patient_id, mrn, first_name, last_name, date_of_birth, sex, created_at,
    admission_status, bed_label, admitted_at, discharged_at, emergency_contact
)
OVERRIDING SYSTEM VALUE
VALUES
    (
        1, 'MRN-100231', 'Amelia', 'Hart', '1948-03-12', 'F', '2025-11-02T08:14:00Z',
        'admitted', 'ICU-01', '2025-11-02T08:20:00Z', NULL, 'Tom Hart +44 7700 900101'
    ),
    (
        2, 'MRN-100232', 'Bashir', 'Okafor', '1961-07-30', 'M', '2025-11-03T22:41:00Z',
        'admitted', 'ICU-02', '2025-11-03T22:50:00Z', NULL, NULL
    ),
    (
        3, 'MRN-100233', 'Chen', 'Wei', '1975-01-05', 'M', '2025-11-01T10:02:00Z',
        'discharged', NULL, '2025-11-01T10:10:00Z', '2025-11-04T15:30:00Z', 'Li Wei +44 7700 900102'
    ),
    (
        4, 'MRN-100234', 'Dana', 'Kowalski', '1990-11-19', 'F', '2025-11-04T06:55:00Z',
        'admitted', 'ICU-04', '2025-11-04T07:05:00Z', NULL, NULL
    ),
    (
        5, 'MRN-100235', 'Elif', 'Demir', '1983-05-23', 'F', '2025-11-04T13:12:00Z',
        'admitted', 'ICU-03', '2025-11-04T13:20:00Z', NULL, 'Can Demir +44 7700 900103'
    ),
    (
        6, 'MRN-100236', 'Farid', 'Haddad', '1957-09-09', 'M', '2025-10-28T17:40:00Z',
        'discharged', NULL, '2025-10-28T17:45:00Z', '2025-11-02T11:00:00Z', NULL
    ),
    (
        7, NULL, 'Unknown', 'Male-A', NULL, 'M', '2025-11-05T02:13:00Z',
        'admitted', 'ICU-05', '2025-11-05T02:15:00Z', NULL, NULL
    ),
    (
        8, NULL, 'Unknown', 'Female-B', NULL, 'U', '2025-11-05T03:47:00Z',
        'admitted', 'ICU-06', '2025-11-05T03:50:00Z', NULL, NULL
    );

INSERT INTO admission_events (
    event_id, patient_id, event_code, bed_label, occurred_at, received_at
)
OVERRIDING SYSTEM VALUE
VALUES
    (1, 6, 'A01', 'ICU-03', '2025-10-28T17:45:00Z', '2025-10-28T17:45:07Z'),
    (2, 3, 'ADT^A01', 'ICU-05', '2025-11-01T10:10:00Z', '2025-11-01T10:10:07Z'),
    (3, 1, 'adt_a01', 'ICU-01', '2025-11-02T08:20:00Z', '2025-11-02T08:20:07Z'),
    (4, 6, ' a03 ', NULL, '2025-11-02T11:00:00Z', '2025-11-02T11:00:07Z'),
    (5, 2, 'A01', 'ICU-02', '2025-11-03T22:50:00Z', '2025-11-03T22:50:07Z'),
    (6, 3, 'ADT^A02', 'ICU-07', '2025-11-03T09:00:00Z', '2025-11-03T09:00:07Z'),
    (7, 4, 'A01 ', 'ICU-04', '2025-11-04T07:05:00Z', '2025-11-04T07:05:07Z'),
    (8, 5, 'ADT^A01', 'ICU-03', '2025-11-04T13:20:00Z', '2025-11-04T13:20:07Z'),
    (9, 3, 'ADT_A03', NULL, '2025-11-04T15:30:00Z', '2025-11-04T15:30:07Z'),
    (10, 1, 'A08', 'ICU-01', '2025-11-04T16:00:00Z', '2025-11-04T16:00:07Z'),
    (11, 7, 'a01', 'ICU-05', '2025-11-05T02:15:00Z', '2025-11-05T02:15:07Z'),
    (12, 8, 'ADT^A01', 'ICU-08', '2025-11-05T03:50:00Z', '2025-11-05T03:50:07Z'),
    (13, 8, 'ADT^A11', NULL, '2025-11-05T03:58:00Z', '2025-11-05T03:58:07Z'),
    (14, 8, 'A01', 'ICU-06', '2025-11-05T04:02:00Z', '2025-11-05T04:02:07Z');

INSERT INTO devices (
    device_id, serial_number, model, device_label, label_source, installed_at
)
OVERRIDING SYSTEM VALUE
VALUES
    (1, 'ZM-4821-0017', 'Z Monitor 4821', NULL, NULL, '2024-06-03T09:00:00Z'),
    (2, 'ZM-4821-0018', 'Z Monitor 4821', 'ICU bedside 2', 'user', '2024-06-03T09:00:00Z'),
    (3, 'ZM-5100-0002', 'Z Monitor 5100', NULL, NULL, '2025-02-14T12:30:00Z'),
    (4, 'ZM-4821-0031', 'Z Monitor 4821', 'ICU-TRANSPORT', NULL, '2023-09-21T08:00:00Z');

INSERT INTO telemetry_metrics (
    metric_id, device_id, batch_id, sent_at, record_count, latency_ms, status
)
OVERRIDING SYSTEM VALUE
VALUES
    (1, 1, 'B-20251104-01', '2025-11-04T12:00:01Z', 204, 205, 'sent'),
    (2, 2, 'B-20251104-02', '2025-11-04T12:00:02Z', 99, 242, 'sent'),
    (3, 3, 'B-20251104-03', '2025-11-04T12:00:03Z', 0, NULL, 'failed'),
    (4, 4, 'B-20251104-04', '2025-11-04T12:00:04Z', 598, 77, 'sent'),
    (5, 1, 'B-20251105-01', '2025-11-05T12:00:01Z', 424, 88, 'sent'),
    (6, 2, 'B-20251105-02', '2025-11-05T12:00:02Z', 109, 338, 'sent'),
    (7, 3, 'B-20251105-03', '2025-11-05T12:00:03Z', 269, 299, 'retried'),
    (8, 4, 'B-20251105-04', '2025-11-05T12:00:04Z', 138, 59, 'sent');

INSERT INTO vitals (
    vital_id, patient_id, recorded_at, heart_rate, spo2, resp_rate, temperature_c,
    systolic_bp, diastolic_bp
)
OVERRIDING SYSTEM VALUE
VALUES
    (1, 1, '2025-11-05T08:00:00Z', 88, 96, 16, 37.0, 137, 76),
    (2, 1, '2025-11-05T09:00:00Z', 91, 93, 17, 37.3, 125, 85),
    (3, 1, '2025-11-05T10:00:00Z', 91, 96, 16, 37.5, 125, 84),
    (4, 1, '2025-11-05T11:00:00Z', 84, 95, 19, 37.0, 127, 85),
    (5, 1, '2025-11-05T12:00:00Z', 86, 97, 17, 37.0, 130, 81),
    (6, 1, '2025-11-05T13:00:00Z', 83, 97, 16, 37.2, 130, 83),
    (7, 1, '2025-11-05T14:00:00Z', 92, 97, 19, 37.4, 138, 85),
    (8, 1, '2025-11-05T15:00:00Z', 89, 95, 18, 37.0, 129, 79),
    (9, 2, '2025-11-05T08:00:00Z', 99, 95, 22, 38.1, 120, 74),
    (10, 2, '2025-11-05T09:00:00Z', 102, 95, 20, 37.9, 123, 69),
    (11, 2, '2025-11-05T10:00:00Z', 110, 93, 21, 38.4, 123, 67),
    (12, 2, '2025-11-05T11:00:00Z', 108, 91, 24, 38.1, 120, 72),
    (13, 2, '2025-11-05T12:00:00Z', 109, 93, 24, 38.1, 124, 68),
    (14, 2, '2025-11-05T13:00:00Z', 99, 93, 23, 38.2, 112, 67),
    (15, 2, '2025-11-05T14:00:00Z', 109, 93, 24, 38.4, 124, 71),
    (16, 3, '2025-11-05T08:00:00Z', 77, 99, 14, 36.5, 130, 79),
    (17, 3, '2025-11-05T09:00:00Z', 68, 100, 12, 36.8, 122, 78),
    (18, 3, '2025-11-05T10:00:00Z', 68, 97, 15, 36.7, 131, 75),
    (19, 3, '2025-11-05T11:00:00Z', 68, 99, 15, 36.8, 120, 80),
    (20, 3, '2025-11-05T12:00:00Z', 74, 98, 15, 37.1, 128, 77),
    (21, 3, '2025-11-05T13:00:00Z', 68, 96, 13, 36.6, 123, 74),
    (22, 4, '2025-11-05T08:00:00Z', 96, 98, 19, 37.5, 102, 65),
    (23, 4, '2025-11-05T09:00:00Z', 95, 98, 20, 37.7, 112, 65),
    (24, 4, '2025-11-05T10:00:00Z', 100, 98, 22, 37.7, 103, 70),
    (25, 4, '2025-11-05T11:00:00Z', 101, 98, 21, 37.5, 114, 64),
    (26, 4, '2025-11-05T12:00:00Z', 96, 97, 18, 37.4, 108, 70),
    (27, 4, '2025-11-05T13:00:00Z', 91, 94, 20, 37.7, 105, 63),
    (28, 4, '2025-11-05T14:00:00Z', 98, 95, 22, 37.4, 113, 72),
    (29, 5, '2025-11-05T08:00:00Z', 74, 95, 15, 37.0, 137, 93),
    (30, 5, '2025-11-05T09:00:00Z', 78, 97, 18, 36.8, 136, 84),
    (31, 5, '2025-11-05T10:00:00Z', 81, 98, 17, 36.9, 135, 85),
    (32, 5, '2025-11-05T11:00:00Z', 75, 97, 16, 36.9, 138, 91),
    (33, 5, '2025-11-05T12:00:00Z', 74, 96, 18, 36.8, 133, 91),
    (34, 5, '2025-11-05T13:00:00Z', 78, 95, 16, 36.9, 138, 88),
    (35, 6, '2025-11-05T08:00:00Z', 72, 98, 14, 36.6, 136, 84),
    (36, 6, '2025-11-05T09:00:00Z', 70, 98, 14, 36.8, 126, 82),
    (37, 6, '2025-11-05T10:00:00Z', 66, 98, 11, 36.6, 131, 79),
    (38, 6, '2025-11-05T11:00:00Z', 60, 99, 13, 36.5, 131, 86),
    (39, 7, '2025-11-05T08:00:00Z', 124, 91, 26, 35.6, 91, 56),
    (40, 7, '2025-11-05T09:00:00Z', 119, 90, 26, 35.7, 88, 60),
    (41, 7, '2025-11-05T10:00:00Z', 122, 91, 24, 36.1, 91, 59),
    (42, 7, '2025-11-05T11:00:00Z', 124, 90, 27, 36.1, 101, 63),
    (43, 7, '2025-11-05T12:00:00Z', 117, 89, 27, 35.9, 90, 55),
    (44, 7, '2025-11-05T13:00:00Z', 114, 90, 24, 35.7, 102, 63),
    (45, 8, '2025-11-05T08:00:00Z', 106, 96, 26, 38.2, 105, 61),
    (46, 8, '2025-11-05T09:00:00Z', 112, 96, 23, 37.6, 97, 67),
    (47, 8, '2025-11-05T10:00:00Z', 115, 93, 25, 38.2, 100, 62),
    (48, 8, '2025-11-05T11:00:00Z', 104, 94, 23, 37.8, 101, 68),
    (49, 8, '2025-11-05T12:00:00Z', 109, 94, 26, 37.9, 98, 59),
    (50, 8, '2025-11-05T13:00:00Z', 115, 94, 25, 38.0, 110, 65);

INSERT INTO settings (key, value, updated_at)
VALUES
    ('deviceLabel', 'ICU-CENTRAL-1', '2025-11-01T09:00:00Z'),
    ('alarmVolume', '40', '2025-11-03T21:15:00Z');

INSERT INTO alarm_thresholds (vital_sign, low_limit, high_limit, priority, updated_at)
VALUES
    ('heart_rate', 45, 130, 'high', '2025-11-02T10:00:00Z');

SELECT setval(pg_get_serial_sequence('patients', 'patient_id'), max(patient_id))
FROM patients;

SELECT setval(pg_get_serial_sequence('vitals', 'vital_id'), max(vital_id))
FROM vitals;

SELECT setval(pg_get_serial_sequence('admission_events', 'event_id'), max(event_id))
FROM admission_events;

SELECT setval(pg_get_serial_sequence('devices', 'device_id'), max(device_id))
FROM devices;

SELECT setval(pg_get_serial_sequence('telemetry_metrics', 'metric_id'), max(metric_id))
FROM telemetry_metrics;
