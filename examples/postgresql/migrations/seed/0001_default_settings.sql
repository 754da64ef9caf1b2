-- seed 0001 default settings: the device configuration every monitor starts
-- with.
--
-- Idempotent (ON CONFLICT DO NOTHING, as DOC-PROC-006 4.3): a value the user
-- already changed is kept. updated_at takes its default, now().

INSERT INTO settings (key, value)
VALUES
('deviceLabel', 'DEVICE-001'),
('measurementUnit', 'metric'),
('alarmVolume', '70'),
('vitalsIntervalSeconds', '60'),
('telemetryServerUrl', 'https://telemetry.invalid/ingest')
ON CONFLICT (key) DO NOTHING;
