-- 0008 backfill device labels: give every unlabelled device the seed
-- document's label format.
--
-- 'DEVICE-' and the zero-padded device id ('DEVICE-001'), as seed/0001 uses for
-- this monitor. label_source = 'backfill' marks the generated labels, so the
-- rollback removes exactly these and never a label a user typed.

UPDATE devices
SET
    device_label = 'DEVICE-' || lpad(device_id::text, 3, '0'),
    label_source = 'backfill'
WHERE device_label IS NULL;
