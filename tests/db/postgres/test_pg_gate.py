"""ci.db.postgres.statements.PgGate on a real server: what a migration's statements may do, decided
from PostgreSQL's parse tree whatever their spelling, and a refused statement never runs."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ci.db.postgres.statements import PgGate, split

BOOKKEEPING = """\
CREATE TABLE schema_version (version int PRIMARY KEY, description text);
CREATE TABLE schema_version_log (id serial PRIMARY KEY, version int);
INSERT INTO schema_version VALUES (1, 'first');
CREATE TABLE patients (id int PRIMARY KEY, name text);
"""


@pytest.fixture
def conn(pg_database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection as the runner holds it (autocommit: it issues BEGIN itself), on a database
    with the runner's tables and one of the project's."""
    with psycopg.connect(pg_database_url, autocommit=True) as connection:
        connection.execute(BOOKKEEPING)
        yield connection


def run(gate: PgGate, text: str) -> tuple[list[str], list[str]]:
    """Every statement of `text` through the gate: (refusals, notices)."""
    refused: list[str] = []
    notices: list[str] = []
    for statement in split(text):
        why = gate.execute(statement, notice=notices.append)
        if why is not None:
            refused.append(why)
    return refused, notices


def one(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def bookkeeping_rows(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    return int(str(one(conn, "SELECT count(*) FROM schema_version")))


# --- transaction control ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("BEGIN;", "BEGIN"),
        ("begin work;", "BEGIN"),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE;", "START TRANSACTION"),
        ("COMMIT;", "COMMIT"),
        ("/* done */ END TRANSACTION;", "END"),
        ("ROLLBACK;", "ROLLBACK"),
        ("ABORT;", "ABORT"),
        ("COMMIT AND CHAIN;", "COMMIT"),
        ("PREPARE TRANSACTION 'x';", "PREPARE TRANSACTION"),
    ],
)
def test_transaction_control_is_ignored_with_a_notice(
    conn: psycopg.Connection[tuple[object, ...]], text: str, word: str
) -> None:
    conn.execute("BEGIN")
    refused, notices = run(PgGate(conn), f"CREATE TABLE made (a int);\n{text}")
    assert refused == []
    assert notices == [f"{word} ignored; the runner runs each migration in its own transaction"]
    conn.execute("ROLLBACK")  # the runner's: the file's COMMIT did not commit anything
    assert one(conn, "SELECT to_regclass('made')") is None


def test_in_a_no_transaction_file_begin_is_ignored_and_says_why(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    refused, notices = run(PgGate(conn, no_transaction=True), "BEGIN; CREATE TABLE t (a int);")
    assert refused == []
    assert notices == [
        "BEGIN ignored; each statement of a @no-transaction migration commits on its own"
    ]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_commit_prepared_is_refused(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    refused, _ = run(PgGate(conn), "COMMIT PREPARED 'other';")
    assert refused == [
        "COMMIT PREPARED 'other' is refused: it finishes another session's prepared transaction, "
        "which is not the migration's to end"
    ]


def test_the_files_own_savepoints_work(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute("BEGIN")
    refused, _ = run(
        PgGate(conn),
        "SAVEPOINT a; INSERT INTO patients VALUES (1, 'x'); ROLLBACK TO SAVEPOINT A;"
        "INSERT INTO patients VALUES (2, 'y'); RELEASE a;",
    )
    conn.execute("COMMIT")
    assert refused == []
    assert one(conn, "SELECT string_agg(id::text, ',') FROM patients") == "2"


@pytest.mark.parametrize(
    "text",
    ["RELEASE runner;", "ROLLBACK TO runner;", "SAVEPOINT a; RELEASE a; RELEASE /* x */ a;"],
)
def test_a_savepoint_the_file_did_not_open_is_refused(
    conn: psycopg.Connection[tuple[object, ...]], text: str
) -> None:
    conn.execute("BEGIN")
    conn.execute("SAVEPOINT runner")  # the runner's own
    refused, _ = run(PgGate(conn), text)
    assert len(refused) == 1
    assert "no savepoint of that name was opened earlier in this file" in refused[0]
    conn.execute("RELEASE runner")  # still there: the refused statement did not run
    conn.execute("ROLLBACK")


def test_a_savepoint_in_a_no_transaction_file_is_refused(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    refused, _ = run(PgGate(conn, no_transaction=True), "SAVEPOINT a;")
    assert refused[0].startswith("a savepoint in a @no-transaction migration is refused")


# --- the runner's own tables ------------------------------------------------------------------

CHANGES = [
    "DELETE FROM schema_version",
    'delete /* sneaky */ from -- comment\n "public"."schema_version"',
    "DELETE FROM Public.Schema_Version WHERE version = 1",
    "UPDATE schema_version SET description = 'x'",
    "WITH x AS (DELETE FROM schema_version RETURNING 1) SELECT 1",
    "WITH x AS (UPDATE schema_version_log SET version = 2 RETURNING 1) SELECT * FROM x",
    "INSERT INTO schema_version_log (version) VALUES (9)",
    "MERGE INTO schema_version s USING patients p ON s.version = p.id WHEN MATCHED THEN DELETE",
    "TRUNCATE patients, schema_version",
    "ALTER TABLE schema_version ADD COLUMN x int",
    "ALTER TABLE schema_version RENAME TO old_versions",
    "ALTER TABLE patients RENAME TO schema_version_log",
    "DROP TABLE patients, public.schema_version",
    "CREATE INDEX sv_description ON schema_version (description)",
    "CREATE TRIGGER t BEFORE DELETE ON schema_version FOR EACH ROW EXECUTE FUNCTION now()",
    "CREATE RULE r AS ON DELETE TO schema_version DO INSTEAD NOTHING",
    "CREATE RULE r AS ON INSERT TO patients DO ALSO DELETE FROM schema_version",
    "CREATE POLICY p ON schema_version USING (false)",
    "ALTER TABLE schema_version ENABLE ROW LEVEL SECURITY",
    "REVOKE ALL ON schema_version FROM PUBLIC",
    "CREATE TABLE pg_temp.schema_version (a int)",
    "CREATE VIEW schema_version_log AS SELECT 1",
    "CREATE TABLE copy_of AS SELECT 1 AS a; SELECT * INTO schema_version_log FROM patients",
    "ALTER TABLE patients ADD FOREIGN KEY (id) REFERENCES schema_version (version)",
    "CREATE FUNCTION wipe() RETURNS void LANGUAGE sql AS 'DELETE FROM schema_version'",
    "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN IF TG_OP = 'DELETE' THEN UPDATE schema_version_log SET version = 0; END IF;\n"
    "RETURN NEW; END $$",
    "DO $$ BEGIN DELETE FROM schema_version; END $$",
    "DO LANGUAGE plpgsql $x$ DECLARE n int; BEGIN FOR n IN 1..2 LOOP\n"
    "  INSERT INTO schema_version VALUES (n + 10, 'loop'); END LOOP; END $x$",
    "CREATE FUNCTION wipe2() RETURNS void LANGUAGE sql\n"
    "BEGIN ATOMIC DELETE FROM schema_version; END",
]


@pytest.mark.parametrize("text", CHANGES)
def test_changes_to_the_runners_tables_are_refused_and_do_not_run(
    conn: psycopg.Connection[tuple[object, ...]], text: str
) -> None:
    before = one(conn, "SELECT md5(string_agg(row(s.*)::text, ',')) FROM schema_version s")
    conn.execute("BEGIN")
    refused, _ = run(PgGate(conn), text)
    conn.execute("COMMIT")
    assert len(refused) == 1
    assert refused[0].startswith(
        "migrations must not change the runner's bookkeeping table schema_version"
    )
    assert "(the runner alone records which migrations ran)" in refused[0]
    after = one(conn, "SELECT md5(string_agg(row(s.*)::text, ',')) FROM schema_version s")
    assert after == before
    assert (
        one(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'schema_version'::regclass") == 0
    )
    assert one(conn, "SELECT count(*) FROM pg_policy") == 0
    assert one(conn, "SELECT count(*) FROM pg_rules WHERE tablename = 'schema_version'") == 0


def test_reading_the_runners_tables_is_fine(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    refused, _ = run(
        PgGate(conn),
        "INSERT INTO patients SELECT version, description FROM schema_version;"
        'CREATE TABLE "Schema_Version" (a int); INSERT INTO "Schema_Version" VALUES (1);',
    )
    assert refused == []
    assert one(conn, "SELECT count(*) FROM patients") == 1
    assert one(conn, 'SELECT count(*) FROM "Schema_Version"') == 1  # another table


def test_a_plain_insert_into_schema_version_is_ignored(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    refused, notices = run(PgGate(conn), "INSERT INTO schema_version VALUES (2, 'mine');")
    assert refused == []
    assert notices == [
        "INSERT INTO schema_version ignored; the runner records the migration itself"
    ]
    assert bookkeeping_rows(conn) == 1


def test_a_rollback_files_delete_from_schema_version_is_ignored(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    text = "DELETE FROM schema_version WHERE version = 1;"
    refused, notices = run(PgGate(conn, rollback=True), text)
    assert refused == []
    assert notices == [
        "DELETE FROM schema_version ignored; the runner removes the rolled-back migration's "
        "row itself"
    ]
    assert bookkeeping_rows(conn) == 1
    refused, _ = run(PgGate(conn), text)  # in a migration it is refused
    assert len(refused) == 1
