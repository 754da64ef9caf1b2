-- rollback 0003: remove the telemetry tables (and every row in them).
--
-- telemetry_metrics references devices, so it goes first.

DROP INDEX idx_telemetry_metrics_device_time;

DROP TABLE telemetry_metrics;

DROP TABLE devices;
