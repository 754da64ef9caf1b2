-- rollback 0007: forget the normalised admission event types.
--
-- Exact because admission_events.event_type is NULL on every row before 0007:
-- the ADT interface writes only event_code until 0007 has run. event_code, the
-- original, was never changed.

UPDATE admission_events
SET event_type = NULL
WHERE event_type IS NOT NULL;
