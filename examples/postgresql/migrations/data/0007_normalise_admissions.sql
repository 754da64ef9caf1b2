-- 0007 normalise admissions: derive admission_events.event_type from the raw
-- HL7 trigger event.
--
-- The ADT interface engine delivered the trigger event in several spellings
-- ('A01', 'ADT^A01', 'adt_a01', ' a03 '). Trim, upper-case, strip the
-- message-type prefix, and map the HL7 v2 ADT trigger events to the enum
-- adt_event_type. Only rows not yet normalised are touched.

UPDATE admission_events
SET
    event_type = CASE regexp_replace(upper(btrim(event_code)), '^ADT[_^]', '')
        WHEN 'A01' THEN 'admit'::adt_event_type
        WHEN 'A02' THEN 'transfer'::adt_event_type
        WHEN 'A03' THEN 'discharge'::adt_event_type
        WHEN 'A08' THEN 'update'::adt_event_type
        WHEN 'A11' THEN 'cancel_admit'::adt_event_type
    END
WHERE
    event_type IS NULL
    AND regexp_replace(upper(btrim(event_code)), '^ADT[_^]', '')
    IN ('A01', 'A02', 'A03', 'A08', 'A11');
