"""What the PostgreSQL fingerprint reads beside definitions, on the real server: privileges
(of columns, schemas, routines, and the default ones), a table's replica identity and CLUSTER
ON mark, a column's storage, statistics target and compression, a constraint index's storage
parameters, and (for the rollback round trip only) a sequence's value. A rollback that leaves
one of them is named; the schema snapshot prints them, so a drift in one is seen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ci.db.postgres.fingerprint import (
    DRIFT,
    REAPPLY,
    describe_differences,
    fingerprint,
)
from ci.db.postgres.snapshot import snapshot_text

pytestmark = pytest.mark.postgresql

BASE = (
    "CREATE TABLE t (id int PRIMARY KEY, a text, b text);"
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';"
    "CREATE SEQUENCE s; CREATE SCHEMA audit"
)

# (what a migration leaves behind, the line that names it, a line of the snapshot)
LEFT = [
    (
        "GRANT UPDATE (a) ON t TO PUBLIC",
        "column t.a: privileges none -> =w/{user}",
        "GRANT UPDATE (a) ON t TO PUBLIC;",
    ),
    (
        "GRANT CREATE ON SCHEMA audit TO PUBLIC",
        "schema audit: privileges none -> ={user_uc}, {user}=UC/{user}",
        "GRANT CREATE ON SCHEMA audit TO PUBLIC;",
    ),
    (
        "REVOKE EXECUTE ON FUNCTION f() FROM PUBLIC",
        "function f(): privileges none -> {user}=X/{user}",
        "REVOKE ALL ON ROUTINE f() FROM PUBLIC;",
    ),
    (
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
        "default privileges ON TABLES left behind",
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;",
    ),
    (
        "ALTER TABLE t REPLICA IDENTITY FULL",
        "table t: replica identity none -> FULL",
        "ALTER TABLE t REPLICA IDENTITY FULL;",
    ),
    (
        "ALTER TABLE t CLUSTER ON t_pkey",
        "table t: clustered on none -> t_pkey",
        "ALTER TABLE t CLUSTER ON t_pkey;",
    ),
    (
        "ALTER TABLE t ALTER COLUMN a SET STORAGE EXTERNAL",
        "column t.a: storage none -> EXTERNAL",
        "ALTER TABLE t ALTER COLUMN a SET STORAGE EXTERNAL;",
    ),
    (
        "ALTER TABLE t ALTER COLUMN a SET STATISTICS 500",
        "column t.a: statistics target none -> 500",
        "ALTER TABLE t ALTER COLUMN a SET STATISTICS 500;",
    ),
    (
        "ALTER TABLE t ALTER COLUMN b SET COMPRESSION pglz",
        "column t.b: compression none -> pglz",
        "ALTER TABLE t ALTER COLUMN b SET COMPRESSION pglz;",
    ),
    (
        "ALTER INDEX t_pkey SET (fillfactor = 50)",
        "index t_pkey on t: storage parameters none -> fillfactor=50",
        "ALTER INDEX t_pkey SET (fillfactor=50);",
    ),
]


@pytest.fixture
def conn(pg_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database_url, autocommit=True) as connection:
        connection.execute(BASE)
        yield connection


@pytest.mark.parametrize(("change", "line", "printed"), LEFT, ids=[c for c, *_ in LEFT])
def test_a_setting_left_behind_is_named_and_printed(
    conn: psycopg.Connection[Any], change: str, line: str, printed: str
) -> None:
    user = conn.info.user
    before, snapshot = fingerprint(conn), snapshot_text(conn)
    assert printed not in snapshot
    conn.execute(change)
    user_uc = f"C/{user}" if "CREATE ON SCHEMA" in change else ""
    expected = line.format(user=user, user_uc=user_uc)
    assert describe_differences(before, fingerprint(conn)) == [expected]
    assert printed in snapshot_text(conn)


def test_a_sequence_value_left_is_named_by_the_round_trip_only(
    conn: psycopg.Connection[Any],
) -> None:
    before = fingerprint(conn)
    conn.execute("SELECT setval('s', 1000)")
    after = fingerprint(conn)
    assert describe_differences(before, after) == [
        "value of sequence s: never called before, last value 1000 after"
    ]
    # re-applying a migration that inserts rows, or drift, moves sequences: not compared
    assert describe_differences(before, after, wording=REAPPLY) == []
    assert describe_differences(before, after, wording=DRIFT) == []
    conn.execute("SELECT setval('s', 1, false)")
    assert describe_differences(before, fingerprint(conn)) == []


def test_the_snapshot_of_a_new_database_prints_no_setting(conn: psycopg.Connection[Any]) -> None:
    # the public schema's own default rights, views' replica identity: not printed
    text = snapshot_text(conn)
    assert "GRANT" not in text and "REVOKE" not in text and "REPLICA" not in text


def test_a_column_named_with_a_colon_is_named_whole(conn: psycopg.Connection[Any]) -> None:
    conn.execute('CREATE TABLE odd ("x: y" text)')
    before = fingerprint(conn)
    conn.execute('ALTER TABLE odd ALTER COLUMN "x: y" SET STATISTICS 10')
    assert describe_differences(before, fingerprint(conn)) == [
        "column odd.x: y: statistics target none -> 10"
    ]
    assert 'ALTER TABLE odd ALTER COLUMN "x: y" SET STATISTICS 10;' in snapshot_text(conn)
