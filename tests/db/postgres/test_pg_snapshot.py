"""The PostgreSQL schema snapshot on the real server: the text is the same on every run and on
every database with the same schema, holds each kind of object as SQL, leaves the runner's
tables and OIDs out, and a committed snapshot that differs from the migrations' schema is named
object by object: an enum's labels in another order, a view's body, an index's columns, a
sequence renamed with a `1` suffix.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ci.db.postgres.snapshot import snapshot_text
from ci.db.postgres.snapshot_diff import describe_drift, parse_snapshot
from tests.pg import TEST_PREFIX, database_url

pytestmark = pytest.mark.postgresql

SCHEMA = """
CREATE SCHEMA audit;
COMMENT ON SCHEMA audit IS 'who did what';
CREATE TYPE triage AS ENUM ('red', 'yellow', 'green');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TABLE patients (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mrn text NOT NULL UNIQUE,
    "Display Name" text COLLATE "C" DEFAULT 'unknown',
    colour triage,
    doubled integer GENERATED ALWAYS AS (id * 2) STORED
);
COMMENT ON COLUMN patients.mrn IS 'medical record number';
CREATE TABLE visits (id serial PRIMARY KEY, patient_id integer REFERENCES patients (id),
                     at timestamptz NOT NULL, beds positive_int);
CREATE INDEX visits_at ON visits (at);
CREATE VIEW red_patients AS SELECT id, mrn FROM patients WHERE colour = 'red';
CREATE MATERIALIZED VIEW visit_counts AS SELECT patient_id, count(*) AS n FROM visits GROUP BY 1;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN

    RETURN NEW;
END $$;
CREATE TRIGGER visits_touch BEFORE UPDATE ON visits FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TABLE audit.events (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE audit."Events 2026" PARTITION OF audit.events
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE schema_version (version integer);
COMMENT ON FUNCTION touch() IS 'keeps rows fresh';
CREATE AGGREGATE total(integer) (SFUNC = int4pl, STYPE = integer, INITCOND = '0');
ALTER TABLE visits DISABLE TRIGGER visits_touch;
ALTER TABLE visits ENABLE ROW LEVEL SECURITY;
CREATE POLICY recent ON visits USING (at > '2020-01-01');
GRANT SELECT ON visits TO PUBLIC;
"""


@pytest.fixture
def conn(pg_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database_url, autocommit=True) as connection:
        yield connection


def drift(conn: psycopg.Connection[Any], committed: str, change: str) -> list[str]:
    """What a snapshot written after `committed` says once `change` has run too."""
    conn.execute(committed)
    expected = snapshot_text(conn)
    conn.execute(change)
    return describe_drift(parse_snapshot(expected), parse_snapshot(snapshot_text(conn)))


def test_the_snapshot_prints_every_kind_of_object_as_sql(conn: psycopg.Connection[Any]) -> None:
    conn.execute(SCHEMA)
    text = snapshot_text(conn)
    major = conn.info.server_version // 10000
    assert text.startswith("-- Schema snapshot: the schema the migrations produce")
    assert f"-- Written on PostgreSQL {major} by " in text
    for expected in (
        "-- schema audit\nCREATE SCHEMA audit;\nCOMMENT ON SCHEMA audit IS 'who did what';\n",
        "CREATE TYPE triage AS ENUM ('red', 'yellow', 'green');",
        "CREATE DOMAIN positive_int AS integer CONSTRAINT positive_int_check CHECK ((VALUE > 0));",
        "-- table patients\nCREATE TABLE patients (\n"
        "    id integer GENERATED ALWAYS AS IDENTITY NOT NULL,\n"
        "    mrn text NOT NULL,\n"
        '    "Display Name" text COLLATE "C" DEFAULT \'unknown\'::text,\n'
        "    colour triage,\n"
        "    doubled integer GENERATED ALWAYS AS ((id * 2)) STORED,\n"
        "    CONSTRAINT patients_mrn_key UNIQUE (mrn),\n"
        "    CONSTRAINT patients_pkey PRIMARY KEY (id)\n);\n"
        "COMMENT ON COLUMN patients.mrn IS 'medical record number';\n",
        "-- index visits_at on visits\nCREATE INDEX visits_at ON public.visits USING btree (at);",
        "-- view red_patients\nCREATE VIEW red_patients AS\n SELECT patients.id,",
        "-- materialized view visit_counts\nCREATE MATERIALIZED VIEW visit_counts AS\n",
        "-- function touch()\nCREATE OR REPLACE FUNCTION public.touch()\n",
        "-- trigger visits_touch on visits\nCREATE TRIGGER visits_touch BEFORE UPDATE ON",
        "-- sequence visits_id_seq\nCREATE SEQUENCE visits_id_seq AS integer START WITH 1",
        "-- partitioned table audit.events\nCREATE TABLE audit.events (\n"
        "    id bigint,\n    at timestamp with time zone NOT NULL\n) PARTITION BY RANGE (at);",
        'ALTER TABLE audit.events ATTACH PARTITION audit."Events 2026" FOR VALUES FROM',
        "COMMENT ON FUNCTION touch() IS 'keeps rows fresh';",
        "-- aggregate total(integer)\nCREATE AGGREGATE total(integer) (SFUNC = int4pl,",
        "ALTER TABLE visits DISABLE TRIGGER visits_touch;",
        "ALTER TABLE visits ENABLE ROW LEVEL SECURITY;\nGRANT SELECT ON visits TO PUBLIC;",
        "-- policy recent on visits\nCREATE POLICY recent ON visits AS PERMISSIVE FOR ALL TO",
    ):
        assert expected in text, expected
    assert "schema_version" not in text  # the runner's table, whichever migration made it
    assert not re.search(
        r"\b\d{5,}\b", text.replace("9223372036854775807", "").replace("2147483647", "")
    ), "an OID-like number in the snapshot"


def test_the_same_schema_prints_the_same_text_on_another_database(
    conn: psycopg.Connection[Any], pg_server_url: str
) -> None:
    conn.execute(SCHEMA)
    first = snapshot_text(conn)
    assert snapshot_text(conn) == first
    # another database, other session settings, the same migrations: the same text
    name = f"{TEST_PREFIX}{secrets.token_hex(6)}"
    with psycopg.connect(pg_server_url, autocommit=True) as server:
        server.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        with psycopg.connect(database_url(name), autocommit=True) as twin:
            twin.execute(SCHEMA)
            # the session that reads has other settings: they do not reach the text
            twin.execute("SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'SQL, DMY'")
            twin.execute("SET search_path = audit, pg_catalog")
            assert snapshot_text(twin) == first
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as server:
            server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_an_enum_with_its_labels_in_another_order_is_drift(conn: psycopg.Connection[Any]) -> None:
    lines = drift(
        conn,
        "CREATE TYPE triage AS ENUM ('red', 'yellow', 'green')",
        "DROP TYPE triage; CREATE TYPE triage AS ENUM ('green', 'yellow', 'red')",
    )
    assert lines == [
        "enum triage: labels in another order: 'red', 'yellow', 'green' in the snapshot, "
        "'green', 'yellow', 'red' from the migrations"
    ]


def test_an_enum_label_removed_or_added_is_named(conn: psycopg.Connection[Any]) -> None:
    lines = drift(
        conn,
        "CREATE TYPE triage AS ENUM ('red', 'yellow', 'green')",
        "DROP TYPE triage; CREATE TYPE triage AS ENUM ('red', 'green', 'blue')",
    )
    assert lines == [
        "enum triage: label 'yellow' in the snapshot but not created by the migrations",
        "enum triage: label 'blue' created by the migrations but not in the snapshot",
    ]


def test_a_view_body_change_is_drift(conn: psycopg.Connection[Any]) -> None:
    lines = drift(
        conn,
        "CREATE TABLE t (a int, b int); CREATE VIEW v AS SELECT a FROM t WHERE b > 0",
        "CREATE OR REPLACE VIEW v AS SELECT a FROM t WHERE b > 1",
    )
    assert lines == [
        "view v definition changed at its line 4: `WHERE (t.b > 0)` in the snapshot, "
        "`WHERE (t.b > 1)` from the migrations"
    ]


def test_an_index_on_other_columns_is_drift(conn: psycopg.Connection[Any]) -> None:
    lines = drift(
        conn,
        "CREATE TABLE t (a int, b int); CREATE INDEX t_idx ON t (a)",
        "DROP INDEX t_idx; CREATE INDEX t_idx ON t (a, b)",
    )
    assert lines == [
        "index t_idx on t: CREATE INDEX t_idx ON public.t USING btree (a) in the snapshot, "
        "CREATE INDEX t_idx ON public.t USING btree (a, b) from the migrations"
    ]


def test_renamed_objects_and_changed_columns_are_named(conn: psycopg.Connection[Any]) -> None:
    lines = drift(
        conn,
        "CREATE TABLE t (id serial, note text, CONSTRAINT t_note CHECK (note <> ''));"
        "CREATE INDEX t_note_idx ON t (note)",
        "ALTER INDEX t_note_idx RENAME TO t_note_idx1;"
        "ALTER TABLE t ALTER COLUMN note SET NOT NULL;"
        "ALTER TABLE t DROP CONSTRAINT t_note; ALTER TABLE t ADD COLUMN extra int",
    )
    assert lines == [
        "column t.note: text in the snapshot, text NOT NULL from the migrations",
        "constraint t_note on t in the snapshot but not created by the migrations",
        "column t.extra created by the migrations but not in the snapshot",
        "index t_note_idx on t renamed to t_note_idx1",
    ]


def test_a_function_body_with_blank_lines_and_comments_reads_back_whole(
    conn: psycopg.Connection[Any],
) -> None:
    """A body line that looks like a block's title splits nothing that the other side would
    not split alike: no drift between equal schemas, and a change inside is still found."""
    body = "BEGIN\n\n-- table lookalike\n    RETURN 1;\nEND"
    lines = drift(
        conn,
        f"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n{body}\n$$",
        f"CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        f"{body.replace('1', '2')}\n$$",
    )
    assert len(lines) == 1 and "RETURN 2;" in lines[0], lines
    committed = parse_snapshot(snapshot_text(conn).replace("\n", "\r\n"))  # a Windows checkout
    assert describe_drift(committed, parse_snapshot(snapshot_text(conn))) == []
