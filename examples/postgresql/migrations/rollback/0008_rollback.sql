-- rollback 0008: remove the generated device labels, and only those.
--
-- 0008 marks every label it writes with label_source = 'backfill'; labels typed
-- by users ('user' or NULL) are left alone.

UPDATE devices
SET
    device_label = NULL,
    label_source = NULL
WHERE label_source = 'backfill';
