-- rollback 0006: forget the MRNs copied onto vitals.
--
-- Exact because vitals.patient_mrn is NULL on every row before 0006: 0004 adds
-- it empty and nothing else writes it until 0006 has run.

UPDATE vitals
SET patient_mrn = NULL
WHERE patient_mrn IS NOT NULL;
