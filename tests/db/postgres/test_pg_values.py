"""Value images of PostgreSQL tables (ci.db.postgres.values): which tables a refresh reads again
(only those that changed, however they changed, and none when nothing did, whenever the
statistics are flushed), and what a row's cells hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ci.db.postgres.values import PgImages, read_image, read_tables
from ci.db.value_images import Long

pytestmark = pytest.mark.postgresql

SCHEMA = (
    "CREATE TABLE parents (id int PRIMARY KEY, name text);"
    "CREATE TABLE children (id int PRIMARY KEY,"
    "  parent_id int REFERENCES parents (id) ON DELETE CASCADE);"
    "CREATE TABLE audit (what text);"
    "CREATE TABLE quiet (id int PRIMARY KEY, n numeric, f float8);"
    "CREATE FUNCTION log_it() RETURNS trigger LANGUAGE plpgsql AS"
    "  $$BEGIN INSERT INTO audit VALUES (TG_OP); RETURN NULL; END$$;"
    "CREATE TRIGGER parents_log AFTER UPDATE ON parents FOR EACH ROW EXECUTE FUNCTION log_it();"
    "INSERT INTO parents VALUES (1, 'a'), (2, 'b'), (3, 'c');"
    "INSERT INTO children VALUES (10, 1), (20, 2);"
    "INSERT INTO quiet VALUES (1, 37.5, 1.5), (2, 37.50, 'NaN'), (3, 12, 2);"
)


@pytest.fixture
def conn(pg_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database_url, autocommit=True) as connection:
        connection.execute(SCHEMA)
        yield connection


def flush_statistics(conn: psycopg.Connection[Any]) -> None:
    """Have this session's pending statistics reach the shared counters (PostgreSQL 15+)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # idle in between: the flush happens there


@pytest.mark.parametrize(
    ("migration", "changed"),
    [
        ("UPDATE parents SET name = 'x' WHERE id = 1", ["audit", "parents"]),  # a trigger
        ("DELETE FROM parents WHERE id = 1", ["children", "parents"]),  # a cascade
        ("TRUNCATE audit", ["audit"]),  # no row to count: a new storage file
        ("ALTER TABLE quiet ALTER COLUMN f TYPE numeric", ["quiet"]),
        ("ALTER TABLE quiet ADD COLUMN g int", ["quiet"]),
        ("ALTER TABLE audit RENAME TO log", ["audit", "log"]),
        ("CREATE TABLE fresh (id int)", ["fresh"]),
        ("DO $$BEGIN DELETE FROM children WHERE id = 20; END$$", ["children"]),
        ("CREATE INDEX quiet_n ON quiet (n); SELECT * FROM quiet", []),
    ],
)
def test_only_the_tables_a_migration_changed_are_read_again(
    conn: psycopg.Connection[Any], migration: str, changed: list[str]
) -> None:
    images = PgImages(conn)
    assert images.reads == 4
    with conn.transaction():
        conn.execute(migration)
    assert images.refresh() == changed
    assert images.reads == 4 + len(images.snapshot().keys() & set(changed))  # gone: not read


def test_the_counters_add_up_however_the_statistics_are_flushed(
    conn: psycopg.Connection[Any],
) -> None:
    images = PgImages(conn)
    conn.execute("UPDATE quiet SET n = n WHERE id = 3")  # pending in this session
    assert images.refresh() == ["quiet"]
    flush_statistics(conn)  # moved from the pending counts to the shared ones: the same sum
    assert images.refresh() == []
    conn.execute("DELETE FROM audit")  # no row: nothing deleted, nothing to read again
    flush_statistics(conn)
    assert images.refresh() == []


def test_cells_are_numbers_texts_and_long_texts_by_their_hash(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("INSERT INTO audit VALUES (repeat('x', 100)), ('short'), (NULL)")
    with conn.transaction(), conn.cursor() as cursor:
        tables = read_tables(cursor)
        quiet = read_image(conn, tables["quiet"])
        audit = read_image(conn, tables["audit"])
    assert list(quiet.items()) == [
        ((1,), (1, 37.5, 1.5)),
        ((2,), (2, 37.5, "NaN")),  # 37.50 is 37.5 (its scale's zeros); NaN never equals itself
        ((3,), (3, 12, 2.0)),
    ]
    # no primary key: the whole row is the key, in value_diff's order (NULL, texts, long)
    rows = [key for key, _ in audit.items()]
    assert audit.key == ("what",) and rows[:2] == [(None,), ("short",)]
    long = rows[2][0]
    assert isinstance(long, Long) and long.length == 100 and long.prefix == "x" * 40


TYPED = (
    "CREATE TYPE color AS ENUM ('red', 'green');"
    "CREATE DOMAIN hue AS color CHECK (VALUE IS NOT NULL);"
    "CREATE TYPE pair AS (x int, y int);"
    "CREATE TABLE paints (id int PRIMARY KEY, c hue[]);"
    "CREATE TABLE pairs (id int PRIMARY KEY, p pair);"
    "INSERT INTO paints VALUES (1, '{red}');"
    "INSERT INTO pairs VALUES (1, '(1,2)');"
)


@pytest.mark.parametrize(
    ("migration", "changed"),
    [
        # no row written: the values read else through their type (a domain over an enum)
        ("ALTER TYPE color RENAME VALUE 'red' TO 'crimson'", ["paints"]),
        ("ALTER TYPE pair ADD ATTRIBUTE z int", ["pairs"]),
        ("ALTER TYPE pair DROP ATTRIBUTE y", ["pairs"]),
        # nothing a stored value reads through
        ("ALTER DOMAIN hue DROP CONSTRAINT hue_check", []),
        ("ALTER TYPE pair RENAME ATTRIBUTE x TO left_x", []),
        ("ALTER TYPE color RENAME TO colour", []),
    ],
)
def test_a_table_is_read_again_when_its_columns_types_change(
    conn: psycopg.Connection[Any], migration: str, changed: list[str]
) -> None:
    conn.execute(TYPED)
    images = PgImages(conn)
    with conn.transaction():
        conn.execute(migration)
    assert images.refresh() == changed


def test_a_numeric_is_compared_by_value_not_by_its_scale(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE DOMAIN cents AS numeric(12, 2);"
                 "CREATE TABLE prices (id numeric PRIMARY KEY, n cents, a numeric[]);"
                 "INSERT INTO prices VALUES (1.0, 2, '{1.50,2,NULL}'), (2.50, 2.5, '{{10,0.05}}'),"
                 " (3, 10, '{}'), (4, NULL, NULL)")  # fmt: skip
    images = PgImages(conn)
    before = images.snapshot()["prices"]
    conn.execute("ALTER TABLE prices ALTER COLUMN id TYPE numeric(9, 3),"
                 " ALTER COLUMN n TYPE numeric(14, 4),"
                 " ALTER COLUMN a TYPE numeric(9, 4)[]")  # fmt: skip
    assert images.refresh() == ["prices"]
    after = images.snapshot()["prices"]
    rows = [
        (("1",), (1, 2, "{1.5,2,NULL}")),
        (("2.5",), (2.5, 2.5, "{{10,0.05}}")),
        (("3",), (3, 10, "{}")),
        (("4",), (4, None, None)),
    ]
    assert list(before.items()) == list(after.items()) == rows
    conn.execute("ALTER TABLE prices ALTER COLUMN a TYPE numeric(9, 1)[]")  # 0.05 rounds
    images.refresh()
    assert dict(images.snapshot()["prices"].items())[("2.5",)] == (2.5, 2.5, "{{10,0.1}}")


def test_without_the_counters_every_table_is_read_again(conn: psycopg.Connection[Any]) -> None:
    images = PgImages(conn)
    conn.execute("SET track_counts = off")  # this session's only
    assert images.refresh() == ["audit", "children", "parents", "quiet"]
    assert images.reads == 8
