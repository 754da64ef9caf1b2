-- seed 0002 alarm thresholds: adult default alarm limits per vital sign.
--
-- Idempotent (ON CONFLICT DO NOTHING): limits a clinician already adjusted are
-- kept.

INSERT INTO alarm_thresholds (
    vital_sign, low_limit, high_limit, priority, updated_at
)
VALUES
('heart_rate', 50, 120, 'high', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('spo2', 90, NULL, 'high', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('resp_rate', 8, 30, 'medium', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('temperature_c', 35.0, 38.5, 'medium', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('systolic_bp', 90, 160, 'medium', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
('diastolic_bp', 50, 100, 'low', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
ON CONFLICT (vital_sign) DO NOTHING;
