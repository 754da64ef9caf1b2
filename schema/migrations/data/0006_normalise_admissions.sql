-- 0006 normalise admissions: derive admission_events.event_type from the raw
-- HL7 trigger event.
--
-- The ADT interface engine delivered the trigger event in several spellings
-- ('A01', 'ADT^A01', 'adt_a01', ' a03 '). Strip the message-type prefix, trim,
-- upper-case, and map the HL7 v2 ADT trigger events to one vocabulary. Only
-- rows not yet normalised are touched.

UPDATE admission_events
SET
    event_type = CASE
    replace(replace(upper(trim(event_code)), 'ADT^', ''), 'ADT_', '')
        WHEN 'A01' THEN 'admit'
        WHEN 'A02' THEN 'transfer'
        WHEN 'A03' THEN 'discharge'
        WHEN 'A08' THEN 'update'
        WHEN 'A11' THEN 'cancel_admit'
    END
WHERE
    event_type IS NULL
    AND replace(replace(upper(trim(event_code)), 'ADT^', ''), 'ADT_', '')
    IN ('A01', 'A02', 'A03', 'A08', 'A11');
