-- 0003 telemetry metrics: the devices that send telemetry and one row per
-- telemetry batch.
--
-- devices.device_label is what the central station shows; older devices
-- registered without one (NULL) are labelled by data migration 0008, which
-- records `label_source = 'backfill'`.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

CREATE TABLE devices (
    device_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial_number text NOT NULL UNIQUE,
    model text NOT NULL,
    device_label text,
    label_source text CHECK (label_source IN ('user', 'backfill')),
    installed_at timestamptz NOT NULL
);

CREATE TABLE telemetry_metrics (
    metric_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id bigint NOT NULL REFERENCES devices (device_id),
    batch_id text NOT NULL,
    sent_at timestamptz NOT NULL,
    record_count integer NOT NULL CHECK (record_count >= 0),
    latency_ms integer,
    status text NOT NULL CHECK (status IN ('sent', 'failed', 'retried'))
);

CREATE INDEX idx_telemetry_metrics_device_time ON telemetry_metrics (
    device_id, sent_at
);
