-- Schema snapshot: the schema the migrations produce (runner bookkeeping left out).
-- Written on PostgreSQL 15 by `python -m ci.apply_empty --engine postgresql --write-snapshot`;
-- a difference fails apply_empty. Definitions as the server prints them.

-- schema public
CREATE SCHEMA public;
COMMENT ON SCHEMA public IS 'standard public schema';

-- extension plpgsql
CREATE EXTENSION plpgsql VERSION '1.0' SCHEMA pg_catalog;
COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL procedural language';

-- enum adt_event_type
CREATE TYPE adt_event_type AS ENUM ('admit', 'transfer', 'discharge', 'cancel_admit', 'update');

-- enum alarm_priority
CREATE TYPE alarm_priority AS ENUM ('low', 'medium', 'high');

-- enum patient_sex
CREATE TYPE patient_sex AS ENUM ('F', 'M', 'X', 'U');

-- sequence admission_events_event_id_seq
CREATE SEQUENCE admission_events_event_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE IDENTITY OF admission_events.event_id;

-- sequence devices_device_id_seq
CREATE SEQUENCE devices_device_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE IDENTITY OF devices.device_id;

-- sequence patients_patient_id_seq
CREATE SEQUENCE patients_patient_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE IDENTITY OF patients.patient_id;

-- sequence telemetry_metrics_metric_id_seq
CREATE SEQUENCE telemetry_metrics_metric_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE IDENTITY OF telemetry_metrics.metric_id;

-- sequence vitals_vital_id_seq
CREATE SEQUENCE vitals_vital_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE IDENTITY OF vitals.vital_id;

-- table admission_events
CREATE TABLE admission_events (
    event_id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    patient_id bigint NOT NULL,
    event_code text NOT NULL,
    event_type adt_event_type,
    bed_label text,
    occurred_at timestamp with time zone NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT admission_events_patient_id_fkey FOREIGN KEY (patient_id) REFERENCES patients(patient_id),
    CONSTRAINT admission_events_pkey PRIMARY KEY (event_id)
);

-- index idx_admission_events_patient on admission_events
CREATE INDEX idx_admission_events_patient ON public.admission_events USING btree (patient_id, occurred_at);

-- table alarm_thresholds
CREATE TABLE alarm_thresholds (
    vital_sign text NOT NULL,
    low_limit numeric,
    high_limit numeric,
    priority alarm_priority NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT alarm_limits_ordered CHECK ((low_limit < high_limit)),
    CONSTRAINT alarm_thresholds_pkey PRIMARY KEY (vital_sign)
);

-- table devices
CREATE TABLE devices (
    device_id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    serial_number text NOT NULL,
    model text NOT NULL,
    device_label text,
    label_source text,
    installed_at timestamp with time zone NOT NULL,
    CONSTRAINT devices_label_source_check CHECK ((label_source = ANY (ARRAY['user'::text, 'backfill'::text]))),
    CONSTRAINT devices_pkey PRIMARY KEY (device_id),
    CONSTRAINT devices_serial_number_key UNIQUE (serial_number)
);

-- table patients
CREATE TABLE patients (
    patient_id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    mrn text,
    first_name text NOT NULL,
    last_name text NOT NULL,
    date_of_birth date,
    sex patient_sex,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    admission_status text DEFAULT 'not_admitted'::text NOT NULL,
    bed_label text,
    admitted_at timestamp with time zone,
    discharged_at timestamp with time zone,
    emergency_contact text,
    CONSTRAINT patients_mrn_format CHECK ((mrn ~ '^MRN-[0-9]{6}$'::text)),
    CONSTRAINT patients_mrn_key UNIQUE (mrn),
    CONSTRAINT patients_pkey PRIMARY KEY (patient_id)
);

-- trigger trg_patients_mrn_immutable on patients
CREATE TRIGGER trg_patients_mrn_immutable BEFORE UPDATE OF mrn ON public.patients FOR EACH ROW WHEN (((old.mrn IS NOT NULL) AND (new.mrn IS DISTINCT FROM old.mrn))) EXECUTE FUNCTION patients_mrn_immutable();

-- table settings
CREATE TABLE settings (
    key text NOT NULL,
    value text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT settings_pkey PRIMARY KEY (key)
);

-- table telemetry_metrics
CREATE TABLE telemetry_metrics (
    metric_id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    device_id bigint NOT NULL,
    batch_id text NOT NULL,
    sent_at timestamp with time zone NOT NULL,
    record_count integer NOT NULL,
    latency_ms integer,
    status text NOT NULL,
    CONSTRAINT telemetry_metrics_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices(device_id),
    CONSTRAINT telemetry_metrics_pkey PRIMARY KEY (metric_id),
    CONSTRAINT telemetry_metrics_record_count_check CHECK ((record_count >= 0)),
    CONSTRAINT telemetry_metrics_status_check CHECK ((status = ANY (ARRAY['sent'::text, 'failed'::text, 'retried'::text])))
);

-- index idx_telemetry_metrics_device_time on telemetry_metrics
CREATE INDEX idx_telemetry_metrics_device_time ON public.telemetry_metrics USING btree (device_id, sent_at);

-- table vitals
CREATE TABLE vitals (
    vital_id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    patient_id bigint NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    heart_rate integer,
    spo2 integer,
    resp_rate integer,
    temperature_c numeric(4,1),
    systolic_bp integer,
    diastolic_bp integer,
    patient_mrn text,
    CONSTRAINT vitals_patient_id_fkey FOREIGN KEY (patient_id) REFERENCES patients(patient_id),
    CONSTRAINT vitals_pkey PRIMARY KEY (vital_id),
    CONSTRAINT vitals_spo2_check CHECK (((spo2 >= 0) AND (spo2 <= 100)))
);

-- index idx_vitals_mrn_pending on vitals
CREATE INDEX idx_vitals_mrn_pending ON public.vitals USING btree (vital_id) WHERE (patient_mrn IS NULL);

-- index idx_vitals_patient_time on vitals
CREATE INDEX idx_vitals_patient_time ON public.vitals USING btree (patient_id, recorded_at);

-- function patients_mrn_immutable()
CREATE OR REPLACE FUNCTION public.patients_mrn_immutable()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'patients.mrn cannot change once assigned'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$function$;
