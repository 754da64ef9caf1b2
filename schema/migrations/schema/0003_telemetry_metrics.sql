-- 0003 telemetry metrics: the devices that send telemetry and one row per
-- telemetry batch.
--
-- devices.device_label is what the central station shows; older devices
-- registered without one (NULL) are labelled by data migration 0007, which
-- records `label_source = 'backfill'`.

CREATE TABLE devices (
    device_id INTEGER PRIMARY KEY,
    serial_number TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    device_label TEXT,
    label_source TEXT CHECK (label_source IN ('user', 'backfill')),
    installed_at TEXT NOT NULL
);

CREATE TABLE telemetry_metrics (
    metric_id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices (device_id),
    batch_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    record_count INTEGER NOT NULL CHECK (record_count >= 0),
    latency_ms INTEGER,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed', 'retried'))
);

CREATE INDEX idx_telemetry_metrics_device_time ON telemetry_metrics (
    device_id, sent_at
);
