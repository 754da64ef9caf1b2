-- rollback 0001: remove the core tables (and every row in them).
--
-- Children before parents, so the implicit DELETE of each DROP TABLE never
-- meets a foreign key.

DROP TABLE alarm_thresholds;

DROP TABLE settings;

DROP INDEX idx_vitals_patient_time;

DROP TABLE vitals;

DROP TRIGGER trg_patients_mrn_immutable;

DROP TABLE patients;
