-- rollback 0003: remove the telemetry tables (and every row in them).
--
-- telemetry_metrics references devices, so it goes first.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

DROP TABLE telemetry_metrics;

DROP TABLE devices;
