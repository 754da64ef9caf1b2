-- seed 0002 alarm thresholds: adult default alarm limits per vital sign.
--
-- Idempotent (ON CONFLICT DO NOTHING): limits a clinician already adjusted are
-- kept.

INSERT INTO alarm_thresholds (vital_sign, low_limit, high_limit, priority)
VALUES
('heart_rate', 50, 120, 'high'),
('spo2', 90, NULL, 'high'),
('resp_rate', 8, 30, 'medium'),
('temperature_c', 35.0, 38.5, 'medium'),
('systolic_bp', 90, 160, 'medium'),
('diastolic_bp', 50, 100, 'low')
ON CONFLICT (vital_sign) DO NOTHING;
