"""PostgreSQL fingerprints on the real server: a rollback that leaves the schema or the data
other than it found them is caught, with the object named; the same schema and rows written
another way read the same; what is left out stays out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ci.db.postgres.fingerprint import (
    REAPPLY,
    describe_differences,
    fingerprint,
    schema_fingerprint,
)

pytestmark = pytest.mark.postgresql


@pytest.fixture
def conn(pg_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database_url, autocommit=True) as connection:
        yield connection


def round_trip(
    conn: psycopg.Connection[Any], before: str, migration: str, rollback: str
) -> list[str]:
    """What differs after `migration` then `rollback`, from the database `before` made."""
    conn.execute(before)
    expected = fingerprint(conn)
    conn.execute(migration)
    conn.execute(rollback)
    return describe_differences(expected, fingerprint(conn))


def test_a_sequence_left_renamed_is_named(conn: psycopg.Connection[Any]) -> None:
    # the migration rebuilds the table while the old one still holds the sequence's name, so
    # the new serial gets `..._seq1`; the rollback undoes the column but not the rename
    lines = round_trip(
        conn,
        "CREATE TABLE webauthn_devices (id serial PRIMARY KEY, name text);"
        "INSERT INTO webauthn_devices (name) VALUES ('a'), ('b')",
        "ALTER TABLE webauthn_devices RENAME TO webauthn_devices_old;"
        "CREATE TABLE webauthn_devices (id serial PRIMARY KEY, name text, kind text);"
        "INSERT INTO webauthn_devices (id, name) SELECT id, name FROM webauthn_devices_old;"
        "DROP TABLE webauthn_devices_old;"
        "ALTER TABLE webauthn_devices RENAME CONSTRAINT webauthn_devices_pkey1"
        " TO webauthn_devices_pkey",
        "ALTER TABLE webauthn_devices DROP COLUMN kind",
    )
    assert lines == [
        "column webauthn_devices.id default nextval('webauthn_devices_id_seq'::regclass)"
        " -> default nextval('webauthn_devices_id_seq1'::regclass)",
        "sequence webauthn_devices_id_seq renamed to webauthn_devices_id_seq1",
    ]


def test_an_index_left_with_a_1_suffix_is_named(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE accounts (id int PRIMARY KEY, email text);"
        "CREATE INDEX ON accounts (lower(email))",
        "ALTER TABLE accounts RENAME TO accounts_old;"
        "ALTER TABLE accounts_old RENAME CONSTRAINT accounts_pkey TO accounts_old_pkey;"
        "CREATE TABLE accounts (id int PRIMARY KEY, email text, verified boolean);"
        "CREATE INDEX ON accounts (lower(email));"
        "DROP TABLE accounts_old",
        "ALTER TABLE accounts DROP COLUMN verified",
    )
    assert lines == ["index accounts_lower_idx on accounts renamed to accounts_lower_idx1"]


def test_a_view_body_left_changed_is_named(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE patients (id int, active boolean, name text);"
        "CREATE VIEW active_patients AS SELECT id, name FROM patients WHERE active",
        "CREATE OR REPLACE VIEW active_patients AS"
        " SELECT id, name, active FROM patients WHERE active",
        "DROP VIEW active_patients;"
        "CREATE VIEW active_patients AS SELECT id, name FROM patients WHERE active IS TRUE",
    )
    assert lines == ["view active_patients definition changed"]


def test_an_enum_label_removed_is_named(conn: psycopg.Connection[Any]) -> None:
    # an enum cannot lose a label in place: the rollback rebuilds the type, and forgets one
    lines = round_trip(
        conn,
        "CREATE TYPE triage AS ENUM ('green', 'yellow', 'red');"
        "CREATE TABLE visits (id int, level triage)",
        "ALTER TYPE triage ADD VALUE 'black'",
        "ALTER TYPE triage RENAME TO triage_old;"
        "CREATE TYPE triage AS ENUM ('green', 'red');"
        "ALTER TABLE visits ALTER level TYPE triage USING level::text::triage;"
        "DROP TYPE triage_old",
    )
    assert lines == ["enum triage: label 'yellow' missing"]


def test_a_column_default_changed_is_named(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE settings (k text PRIMARY KEY, v text DEFAULT 'on')",
        "ALTER TABLE settings ALTER v SET DEFAULT 'off'",
        "ALTER TABLE settings ALTER v SET DEFAULT 'of'",
    )
    assert lines == ["column settings.v default 'on'::text -> default 'of'::text"]


def test_a_constraint_validated_by_the_round_trip_is_named(
    conn: psycopg.Connection[Any],
) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE vitals (id int, pulse int);"
        "ALTER TABLE vitals ADD CONSTRAINT pulse_range CHECK (pulse BETWEEN 0 AND 300) NOT VALID",
        "ALTER TABLE vitals VALIDATE CONSTRAINT pulse_range",
        "ALTER TABLE vitals DROP CONSTRAINT pulse_range;"
        "ALTER TABLE vitals ADD CONSTRAINT pulse_range CHECK (pulse BETWEEN 0 AND 300)",
    )
    assert lines == ["constraint pulse_range on vitals: NOT VALID -> valid"]


def test_a_function_body_changed_is_named(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        "CREATE FUNCTION bmi(kg numeric, m numeric) RETURNS numeric"
        " LANGUAGE sql AS $$ SELECT kg / (m * m) $$",
        "CREATE OR REPLACE FUNCTION bmi(kg numeric, m numeric) RETURNS numeric"
        " LANGUAGE sql AS $$ SELECT round(kg / (m * m), 1) $$",
        "CREATE OR REPLACE FUNCTION bmi(kg numeric, m numeric) RETURNS numeric"
        " LANGUAGE sql AS $$ SELECT kg / m / m $$",
    )
    assert lines == ["function bmi(kg numeric, m numeric) definition changed"]


def test_rows_lost_and_rows_changed_are_named(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE vitals (id int PRIMARY KEY, pulse int);"
        "INSERT INTO vitals SELECT g, 60 + g FROM generate_series(1, 1204) g;"
        "CREATE TABLE notes (id int, body text);"
        "INSERT INTO notes VALUES (1, 'a'), (2, 'b')",
        "DELETE FROM vitals; UPDATE notes SET body = upper(body)",
        "UPDATE notes SET body = body || '!'",
    )
    assert lines == [
        "table notes: content changed (same row count)",
        "table vitals: 1,204 rows lost",
    ]


def test_objects_missing_left_behind_and_invalid_are_named(
    conn: psycopg.Connection[Any],
) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE patients (id int PRIMARY KEY, mrn text);"
        "CREATE TABLE notes (id int);"
        "INSERT INTO notes VALUES (1), (2), (3);"
        "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"
        "CREATE TRIGGER patients_stamp BEFORE INSERT ON patients"
        " FOR EACH ROW EXECUTE FUNCTION stamp();"
        "COMMENT ON COLUMN patients.mrn IS 'medical record number'",
        "CREATE INDEX patients_mrn ON patients (mrn);"
        "ALTER TABLE patients ENABLE ROW LEVEL SECURITY;"
        "DROP TRIGGER patients_stamp ON patients;"
        "DROP TABLE notes;"
        "CREATE SEQUENCE ticket_no;"
        "COMMENT ON COLUMN patients.mrn IS 'MRN'",
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'patients_mrn'::regclass",
    )
    assert lines == [
        "table notes missing (3 rows lost)",
        "table patients: row level security none -> ENABLE",
        "index patients_mrn on patients left behind",
        "trigger patients_stamp on patients missing",
        "comment on column patients.mrn changed: 'medical record number' before, 'MRN' after",
        "sequence ticket_no left behind",
    ]


def test_an_index_left_invalid_says_so(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE patients (id int, mrn text); CREATE INDEX patients_mrn ON patients (mrn)",
        "SELECT 1",
        # what a failed CREATE INDEX CONCURRENTLY leaves: the index, marked invalid
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'patients_mrn'::regclass",
    )
    assert lines == ["index patients_mrn on patients: valid -> INVALID"]


def test_a_clean_round_trip_reads_the_same(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        SCHEMA,
        "ALTER TABLE patients ADD COLUMN notes text;"
        "CREATE INDEX patients_notes ON patients (notes);"
        "ALTER TYPE triage ADD VALUE IF NOT EXISTS 'white' BEFORE 'green';"
        "INSERT INTO vitals (patient_id, pulse) VALUES (1, 99)",
        "DROP INDEX patients_notes; ALTER TABLE patients DROP COLUMN notes;"
        "DELETE FROM vitals WHERE pulse = 99;"
        "SELECT setval('vitals_id_seq', (SELECT max(id) FROM vitals));"
        "ALTER TYPE triage RENAME TO triage_old;"
        "CREATE TYPE triage AS ENUM ('green', 'yellow', 'red');"
        "ALTER TABLE patients ALTER level TYPE triage USING level::text::triage;"
        "DROP TYPE triage_old",
    )
    assert lines == []


def test_reapply_wording(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE a (id int)")
    first = fingerprint(conn)
    conn.execute("CREATE TABLE b (id int); CREATE INDEX a_id ON a (id)")
    assert describe_differences(first, fingerprint(conn), wording=REAPPLY) == [
        "index a_id on a only there after re-applying",
        "table b only there after re-applying",
    ]


SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA audit;
CREATE TYPE triage AS ENUM ('green', 'yellow', 'red');
CREATE DOMAIN pulse AS integer CHECK (VALUE BETWEEN 0 AND 300);
CREATE TABLE patients (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mrn varchar(20) NOT NULL UNIQUE,
    name text COLLATE "C" DEFAULT 'unknown',
    level triage,
    bmi numeric GENERATED ALWAYS AS (1.5 * id) STORED
);
CREATE TABLE vitals (
    id serial PRIMARY KEY,
    patient_id bigint REFERENCES patients (id) ON DELETE CASCADE,
    pulse pulse,
    taken timestamptz DEFAULT now(),
    CHECK (pulse IS NOT NULL)
);
CREATE INDEX vitals_recent ON vitals (taken DESC) WHERE pulse > 100;
CREATE VIEW tachycardia AS SELECT patient_id, pulse FROM vitals WHERE pulse > 100;
CREATE FUNCTION audit.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER vitals_touch BEFORE UPDATE ON vitals FOR EACH ROW EXECUTE FUNCTION audit.touch();
CREATE TABLE audit.log (at timestamp, what jsonb, raw bytea, f float8, span interval);
COMMENT ON TABLE vitals IS 'one row per measurement';
INSERT INTO patients (mrn, name, level) VALUES ('M1', 'Ann', 'red'), ('M2', 'Bob', NULL);
INSERT INTO vitals (patient_id, pulse, taken) VALUES (1, 80, '2026-01-01 10:00+01'), (2, 120, NULL);
INSERT INTO audit.log VALUES
  ('2026-01-01 10:00', '{"b": 1, "a": [1, 2]}', '\\x00ff', 0.1, '1 day 2 hours');
"""

# the same schema and rows, written another way: other case, quoting, type spellings, order of
# clauses and constraints, rows inserted in another order, under other session settings
SPELLED_OTHERWISE = """
SET datestyle = 'German, DMY'; SET TIME ZONE 'America/New_York'; SET search_path = audit, public;
SET extra_float_digits = 3; SET bytea_output = 'escape'; SET intervalstyle = 'sql_standard';
create extension pgcrypto;
create schema "audit";
create type public.TRIAGE as enum ('green', 'yellow', 'red');
create domain public.Pulse int4 check (value >= 0 and value <= 300);
CREATE TABLE public."patients" (
    ID INT8 primary key generated always as identity,
    MRN CHARACTER VARYING(20) unique not null,
    "name" TEXT default 'unknown' collate "C",
    Level public.Triage,
    BMI NUMERIC generated always as (1.5*ID) stored
);
create table public.vitals (
    "id" SERIAL, PATIENT_ID INT8, PULSE public.pulse, TAKEN TIMESTAMP WITH TIME ZONE
        DEFAULT NOW(),
    check (PULSE is not null), primary key (ID),
    foreign key (patient_id) references public.patients on delete cascade
);
create index VITALS_RECENT on public.VITALS using btree (TAKEN desc) where (pulse > 100);
create view public.TACHYCARDIA as select patient_id, vitals.pulse from public.vitals
    where (((pulse > 100)));
create function touch() returns trigger as $$BEGIN RETURN NEW; END$$ language plpgsql;
create trigger VITALS_TOUCH before update on public.vitals for each row execute procedure touch();
create table log (AT TIMESTAMP WITHOUT TIME ZONE, what JSONB, raw BYTEA, f DOUBLE PRECISION,
    span INTERVAL);
alter table log alter column at drop default;
comment on table public.vitals is 'one row per measurement';
insert into public.patients (mrn, name, level) overriding system value
    select * from (values ('M1', 'Ann', 'red'::public.triage), ('M2', 'Bob', null)) as v;
insert into public.vitals (id, patient_id, pulse, taken) values (2, 2, 120, null);
insert into public.vitals (id, patient_id, pulse, taken)
    values (1, 1, 80, '2026-01-01 04:00:00-05');
select setval('public.vitals_id_seq', 2);
insert into log (at, what, raw, f, span)
    values ('01.01.2026 10:00', '{"a": [1,2], "b": 1}', '\\000\\377', 0.1, '1 2:00:00');
"""


@pytest.fixture
def second_conn(pg_server_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A second fresh database beside `conn`'s (dropped afterwards)."""
    import secrets

    from psycopg import sql

    from tests.pg import TEST_PREFIX, database_url

    name = f"{TEST_PREFIX}{secrets.token_hex(6)}"
    create = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
    with psycopg.connect(pg_server_url, autocommit=True) as server:
        server.execute(create)
    try:
        with psycopg.connect(database_url(name), autocommit=True) as connection:
            yield connection
    finally:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(pg_server_url, autocommit=True) as server:
            server.execute(drop)


def test_the_same_schema_and_rows_spelled_otherwise_read_the_same(
    conn: psycopg.Connection[Any], second_conn: psycopg.Connection[Any]
) -> None:
    conn.execute(SCHEMA)
    second_conn.execute(SPELLED_OTHERWISE)
    first, second = fingerprint(conn), fingerprint(second_conn)
    assert describe_differences(first, second) == []
    assert first == second
    assert first.groups["vitals"].rows == 2 and first.groups["audit.log"].rows == 1


def test_one_value_otherwise_is_a_difference(
    conn: psycopg.Connection[Any], second_conn: psycopg.Connection[Any]
) -> None:
    conn.execute(SCHEMA)
    second_conn.execute(SPELLED_OTHERWISE + "; UPDATE public.vitals SET pulse = 121 WHERE id = 2")
    assert describe_differences(fingerprint(conn), fingerprint(second_conn)) == [
        "table vitals: content changed (same row count)"
    ]
    # the schema part alone does not see it
    assert schema_fingerprint(conn) == schema_fingerprint(second_conn)


def test_a_table_left_renamed_is_named(conn: psycopg.Connection[Any]) -> None:
    lines = round_trip(
        conn,
        "CREATE TABLE visits (id int, ward text); INSERT INTO visits VALUES (1, 'A')",
        "ALTER TABLE visits RENAME TO encounters",
        "ALTER TABLE encounters ADD COLUMN note text; ALTER TABLE encounters DROP COLUMN note",
    )
    assert lines == ["table visits renamed to encounters"]
