-- @batch 10000
-- noqa: disable=LT05
-- @progress SELECT COUNT(*) FROM vitals AS v INNER JOIN patients AS p ON v.patient_id = p.patient_id WHERE v.patient_mrn IS NULL AND p.mrn IS NOT NULL
-- noqa: enable=LT05
--
-- 0005 migrate patient ids to MRN: copy each patient's MRN onto their vitals
-- (DOC-PROC-006 4.2).
--
-- vitals can hold millions of rows, so this runs in batches of 10,000 rows,
-- each committed on its own (DOC-PROC-006 8): the runner binds :batch_size and
-- repeats the statement until it changes no row. Every row it changes gets a
-- non-NULL patient_mrn and so leaves the candidate set: the loop always ends,
-- and a run interrupted midway resumes where it stopped. Vitals of a patient
-- who has no MRN yet stay NULL; they are not an error.
--
-- ORDER BY vital_id follows idx_vitals_mrn_pending (0004): no sort, and a
-- batch updates rows that sit next to each other.

UPDATE vitals
SET
    patient_mrn = (
        SELECT p.mrn
        FROM patients AS p
        WHERE p.patient_id = vitals.patient_id
    )
WHERE vital_id IN (
    SELECT v.vital_id
    FROM vitals AS v
    INNER JOIN patients AS p ON v.patient_id = p.patient_id
    WHERE v.patient_mrn IS NULL AND p.mrn IS NOT NULL
    ORDER BY v.vital_id
    LIMIT :batch_size
);
