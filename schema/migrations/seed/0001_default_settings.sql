-- seed 0001 default settings: the device configuration every monitor starts
-- with.
--
-- Idempotent (INSERT OR IGNORE, as DOC-PROC-006 4.3): a value the user already
-- changed is kept.

INSERT OR IGNORE INTO settings (key, value, updated_at)
VALUES
('deviceLabel', 'DEVICE-001', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('measurementUnit', 'metric', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('alarmVolume', '70', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('vitalsIntervalSeconds', '60', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
(
    'telemetryServerUrl',
    'https://telemetry.invalid/ingest',
    strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
);
