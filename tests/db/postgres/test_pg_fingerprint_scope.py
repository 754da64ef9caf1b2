"""What a PostgreSQL fingerprint reads and leaves out, and what it leaves behind in the session:
the runner's tables, the system schemas, temporary tables and the members of an extension stay
out; the caller's settings and open transaction are as they were; the content is read only when
asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ci.db.postgres.fingerprint import describe_differences, fingerprint, schema_fingerprint

pytestmark = pytest.mark.postgresql


@pytest.fixture
def conn(pg_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database_url, autocommit=True) as connection:
        yield connection


def test_runner_tables_system_schemas_temporary_tables_and_extension_members_stay_out(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;"
        "CREATE TABLE schema_version (version int PRIMARY KEY, file_hash text);"
        "CREATE TABLE schema_version_log (id serial PRIMARY KEY, action text);"
        "CREATE TEMPORARY TABLE scratch (id int);"
        "CREATE TABLE patients (id int)"
    )
    assert sorted(fingerprint(conn).groups) == [
        "extension pgcrypto",
        "extension plpgsql",
        "patients",
        "schema public",
    ]


def test_the_callers_settings_and_transaction_are_as_they_were(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("SET search_path = pg_catalog; SET TIME ZONE 'Asia/Tokyo'")
    conn.execute("BEGIN")
    conn.execute(
        "CREATE TABLE public.uncommitted (id int); INSERT INTO public.uncommitted VALUES (1)"
    )
    printed = fingerprint(conn)
    # the caller's uncommitted work is seen, its transaction is still open and usable
    assert printed.groups["uncommitted"].rows == 1
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    conn.execute("INSERT INTO public.uncommitted VALUES (2)")
    conn.execute("ROLLBACK")
    row = conn.execute("SELECT current_setting('search_path'), current_setting('TimeZone')")
    assert row.fetchone() == ("pg_catalog", "Asia/Tokyo")
    assert "uncommitted" not in fingerprint(conn).groups


def test_content_is_read_only_when_asked(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE notes (id int, body text); INSERT INTO notes VALUES (1, 'a')")
    full = fingerprint(conn).groups["notes"]
    counted = fingerprint(conn, content=False).groups["notes"]
    schema = schema_fingerprint(conn).groups["notes"]
    assert (full.rows, counted.rows, schema.rows) == (1, 1, None)
    assert full.digest is not None and counted.digest is None and schema.digest is None
    conn.execute("UPDATE notes SET body = 'b'")
    assert fingerprint(conn).groups["notes"].digest != full.digest
    assert fingerprint(conn, content=False).groups["notes"] == counted


def test_rows_are_hashed_by_value_not_by_order_or_place(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE pairs (a int, b text);INSERT INTO pairs VALUES (1, 'x'), (2, 'y'), (2, 'y')"
    )
    before = fingerprint(conn).groups["pairs"]
    # the same rows rewritten in another physical order (a rebuild): the same hash
    conn.execute(
        "CREATE TABLE pairs_copy AS SELECT * FROM pairs ORDER BY a DESC;"
        "TRUNCATE pairs; INSERT INTO pairs SELECT * FROM pairs_copy; DROP TABLE pairs_copy"
    )
    assert fingerprint(conn).groups["pairs"] == before
    # values swapped between two rows, and a duplicate traded for another row: not the same
    conn.execute(
        "UPDATE pairs SET b = CASE b WHEN 'x' THEN 'y' ELSE 'x' END WHERE a = 1 OR b = 'y'"
    )
    swapped = fingerprint(conn).groups["pairs"]
    assert swapped.rows == before.rows and swapped.digest != before.digest


def test_other_kinds_of_objects_are_named(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE SCHEMA billing;"
        "CREATE DOMAIN billing.cents AS bigint CHECK (VALUE >= 0);"
        "CREATE TYPE billing.money_range AS RANGE (subtype = numeric);"
        "CREATE TYPE address AS (street text, city text);"
        "CREATE SEQUENCE invoice_no INCREMENT BY 1;"
        "CREATE PROCEDURE billing.close_month() LANGUAGE sql AS $$ SELECT 1 $$;"
        "CREATE TABLE events (at date, what text) PARTITION BY RANGE (at);"
        "CREATE TABLE events_2026 PARTITION OF events"
        " FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "CREATE TABLE payments (id int, amount billing.cents);"
        "CREATE POLICY own_rows ON payments USING (id > 0);"
        "COMMENT ON SCHEMA billing IS 'money'"
    )
    before = fingerprint(conn)
    conn.execute(
        "ALTER DOMAIN billing.cents DROP CONSTRAINT cents_check;"
        "ALTER DOMAIN billing.cents ADD CONSTRAINT cents_check CHECK (VALUE > 0);"
        "ALTER TYPE address ADD ATTRIBUTE zip text;"
        "ALTER SEQUENCE invoice_no INCREMENT BY 10 AS integer;"
        "DROP PROCEDURE billing.close_month();"
        "ALTER TABLE events DETACH PARTITION events_2026;"
        "ALTER POLICY own_rows ON payments USING (id > 1);"
        "COMMENT ON SCHEMA billing IS NULL;"
        "DROP EXTENSION plpgsql CASCADE"
    )
    assert describe_differences(before, fingerprint(conn)) == [
        "column address.zip still present",
        "domain billing.cents: AS bigint CONSTRAINT cents_check CHECK ((VALUE >= 0))"
        " -> AS bigint CONSTRAINT cents_check CHECK ((VALUE > 0))",
        "table events_2026: partition of events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
        " -> none",
        "extension plpgsql missing",
        "sequence invoice_no: AS bigint -> AS integer",
        "sequence invoice_no: INCREMENT BY 1 -> INCREMENT BY 10",
        "sequence invoice_no: MAXVALUE 9223372036854775807 -> MAXVALUE 2147483647",
        "policy own_rows on payments: PERMISSIVE FOR ALL TO PUBLIC USING ((id > 0))"
        " -> PERMISSIVE FOR ALL TO PUBLIC USING ((id > 1))",
        "procedure billing.close_month() missing",
        "comment on schema billing missing",
    ]


def test_names_that_need_quoting_are_read_and_shown_as_they_are(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        'CREATE SCHEMA "Billing Dept";'
        'CREATE TABLE "Billing Dept"."Patient Notes" (mg_row int, "Body" text);'
        """INSERT INTO "Billing Dept"."Patient Notes" VALUES (1, 'a'), (2, 'b')"""
    )
    before = fingerprint(conn)
    assert before.groups["Billing Dept.Patient Notes"].rows == 2
    conn.execute("""UPDATE "Billing Dept"."Patient Notes" SET "Body" = 'c' WHERE mg_row = 2""")
    assert describe_differences(before, fingerprint(conn)) == [
        "table Billing Dept.Patient Notes: content changed (same row count)"
    ]


def test_every_kind_of_object_is_read(conn: psycopg.Connection[Any]) -> None:
    from ci.db.postgres.fingerprint_wording import kind

    conn.execute(
        "CREATE TABLE base (id int PRIMARY KEY);"
        "CREATE TABLE child (extra text) INHERITS (base);"
        "CREATE UNLOGGED TABLE cache (k text) WITH (fillfactor = 70);"
        "CREATE RULE no_delete AS ON DELETE TO cache DO INSTEAD NOTHING;"
        "CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM base;"
        "CREATE UNIQUE INDEX totals_n ON totals (n);"
        "CREATE TYPE pair AS (a int, b int);"
        "CREATE FUNCTION add_pair(s int, p pair) RETURNS int LANGUAGE sql"
        " AS $$ SELECT s + p.a + p.b $$;"
        "CREATE AGGREGATE pair_sum(pair) (SFUNC = add_pair, STYPE = int, INITCOND = '0');"
        "COMMENT ON AGGREGATE pair_sum(pair) IS 'adds pairs'"
    )
    printed = fingerprint(conn)
    kinds = {key: kind(group) for key, group in printed.groups.items()}
    assert kinds == {
        "base": "table",
        "child": "table",
        "cache": "table",
        "totals": "materialized view",
        "pair": "type",
        "routine add_pair(s integer, p pair)": "function",
        "routine pair_sum(pair)": "aggregate",
        "extension plpgsql": "extension",
        "schema public": "schema",
    }
    child = {(o.type, o.name): o.sql for o in printed.groups["child"].objects}
    cache = {(o.type, o.name): o.sql for o in printed.groups["cache"].objects}
    assert child[("option", "inherits")] == "base"
    assert cache[("option", "persistence")] == "UNLOGGED"
    assert cache[("option", "storage parameters")] == "fillfactor=70"
    assert cache[("rule", "no_delete")].startswith("CREATE RULE no_delete AS")
    aggregate = printed.groups["routine pair_sum(pair)"].objects
    assert [o.sql for o in aggregate] == [
        "AGGREGATE (SFUNC = add_pair, STYPE = integer, INITCOND = '0')",
        "adds pairs",
    ]
    assert [i.name for i in printed.groups["totals"].indexes] == ["totals_n"]


def test_grants_statistics_collations_and_event_triggers_are_compared(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        "CREATE TABLE visits (id int, ward text, bed int);"
        "CREATE FUNCTION on_ddl() RETURNS event_trigger LANGUAGE plpgsql"
        " AS $$BEGIN END$$"
    )
    before = fingerprint(conn)
    # a GRANT undone by its REVOKE leaves the owner's privileges written out: the same as none
    conn.execute("GRANT SELECT ON visits TO PUBLIC; REVOKE SELECT ON visits FROM PUBLIC")
    assert fingerprint(conn) == before
    conn.execute(
        "GRANT SELECT ON visits TO PUBLIC;"
        "CREATE STATISTICS visits_ward_bed ON ward, bed FROM visits;"
        "CREATE COLLATION bytewise (provider = libc, locale = 'C');"
        "CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION on_ddl()"
    )
    lines = describe_differences(before, fingerprint(conn))
    owner = conn.execute("SELECT current_user").fetchone()
    assert owner is not None
    assert lines == [
        "collation bytewise left behind",
        "event trigger log_ddl left behind",
        f"table visits: privileges none -> =r/{owner[0]}, {owner[0]}=arwdDxt/{owner[0]}",
        "statistics visits_ward_bed on visits left behind",
    ]


def test_any_connection_reads_the_same(conn: psycopg.Connection[Any], pg_database_url: str) -> None:
    from psycopg.rows import dict_row

    conn.execute("CREATE TABLE notes (id int PRIMARY KEY); INSERT INTO notes VALUES (1)")
    expected = fingerprint(conn)
    # rows as dicts, and a connection that opens its own transactions (left idle as it was)
    with psycopg.connect(pg_database_url, row_factory=dict_row) as other:
        assert fingerprint(other) == expected
        assert other.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
