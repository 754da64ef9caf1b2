-- 0006 migrate patient ids to MRN: copy each patient's MRN onto their vitals
-- (DOC-PROC-006 4.2).
--
-- One UPDATE ... FROM, in the migration's transaction: every row or none.
-- Vitals of a patient who has no MRN yet stay NULL; they are not an error.
-- Only rows still NULL are touched (the partial index of 0005 lists them), so
-- running it again changes nothing.

UPDATE vitals AS v
SET patient_mrn = p.mrn
FROM patients AS p
WHERE
    p.patient_id = v.patient_id
    AND v.patient_mrn IS NULL
    AND p.mrn IS NOT NULL;
