"""`@batch N` migrations through the runner (what the runner's callers use), on both engines: a
real SQLite file and a database on the real PostgreSQL server, the same migrations (SQL both
accept), the same runner methods and the same promises. Commit per batch, the failures and
what they leave committed, --resume after a failure, the @progress query, the bound that stops
a batch that would never end; and SQLite's own reading of the table a statement writes.

SQLite's own resume of a mark left by a process that died is in test_runner.py; PostgreSQL's
kill -9, --statement-timeout per batch, --group, --dry-run and the checks in
tests/db/postgres/test_pg_batch.py. No mocks.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.core.model import discover
from ci.db.batch import TARGET
from ci.db.runner import MigrationFailed, Runaway, RunRefused
from tests.checks.engines import ENGINES
from tests.conftest import MIGRATIONS, WriteTree, tree

ITEMS = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT CHECK (label IS NULL OR id <> 5));\n"
    "INSERT INTO items (id) VALUES (1), (2), (3), (4), (5), (6);\n"
)
LABEL = (
    "UPDATE items SET label = 'L' || id\n"
    " WHERE id IN (SELECT id FROM items WHERE label IS NULL ORDER BY id LIMIT :batch_size);\n"
)
CHECK_FAILED = "(?i)check constraint"  # SQLite: "CHECK constraint failed", PostgreSQL: "violates"


class Db:
    """One database of either engine, and runners on it (closed with the test)."""

    def __init__(self, engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.engine = engine
        self.path = tmp_path / "app.db"
        self.url = str(request.getfixturevalue("pg_database_url")) if engine != "sqlite" else ""
        self.conns: list[Any] = []

    def runner(self, root: Path, **options: Any) -> tuple[Any, io.StringIO]:
        """A runner (Runner or PgRunner) on this database for the tree at root, and its output."""
        out, catalog = io.StringIO(), discover(root / MIGRATIONS)
        if self.engine == "sqlite":
            from ci.db.runner import Runner, connect

            runner: Any = Runner(connect(self.path), catalog, out=out, **options)
        else:
            from ci.db.postgres.connect import open_target
            from ci.db.postgres.runner import PgRunner

            runner = PgRunner(open_target(self.url), catalog, out=out, **options)
        self.conns.append(runner.conn)
        return runner, out

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.engine == "sqlite":
            with closing(sqlite3.connect(self.path)) as conn:
                return conn.execute(sql).fetchall()
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(sql.encode()).fetchall()]

    def execute(self, sql: str) -> None:
        if self.engine == "sqlite":
            with closing(sqlite3.connect(self.path)) as conn:
                conn.execute(sql)
                conn.commit()
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.encode())


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    made = Db(str(request.param), request, tmp_path)
    yield made
    for conn in made.conns:
        conn.close()


def migrate(write_tree: WriteTree, db: Db, batch: str, **options: Any) -> None:
    """Apply 0001 (six items) and the @batch migration 0002."""
    root = write_tree(tree({"schema/0001_items.sql": ITEMS, "data/0002_label.sql": batch}))
    db.runner(root, **options)[0].migrate()


def labelled(db: Db) -> int:
    return int(db.rows("SELECT count(*) FROM items WHERE label IS NOT NULL")[0][0])


def test_a_failing_batch_leaves_the_finished_batches_committed_and_says_so(
    write_tree: WriteTree, db: Db
) -> None:
    with pytest.raises(MigrationFailed, match=CHECK_FAILED) as failed:
        migrate(write_tree, db, f"-- @batch 2\n{LABEL}")  # the third batch holds id 5
    assert failed.value.left_dirty == (
        "0002 is a @batch migration; its finished batches (4 rows) stay committed"
    )
    assert labelled(db) == 4
    assert db.rows(
        "SELECT rows_affected, error IS NOT NULL FROM schema_version_log WHERE action = 'dirty'"
    ) == [(4, True)]


def test_a_first_batch_that_fails_leaves_nothing_committed(write_tree: WriteTree, db: Db) -> None:
    with pytest.raises(MigrationFailed) as failed:
        migrate(write_tree, db, f"-- @batch 6\n{LABEL}")
    assert failed.value.left_dirty == (
        "0002 is a @batch migration; none of its batches was committed"
    )
    assert labelled(db) == 0


def test_a_failed_batch_is_named_by_the_next_run_and_resumed_after_the_fix(
    write_tree: WriteTree, db: Db
) -> None:
    # labels L0, L1, L2, then L0 again: the unique index refuses the second batch of three
    root = write_tree(
        tree(
            {
                "schema/0001_items.sql": ITEMS.replace("id <> 5", "id > 0")
                + "CREATE UNIQUE INDEX items_label ON items (label);\n",
                "data/0002_label.sql": "-- @batch 3\n"
                + LABEL.replace("'L' || id", "'L' || (id % 3)"),
            }
        )
    )
    runner, out = db.runner(root)
    with pytest.raises(MigrationFailed):
        runner.migrate()
    with pytest.raises(RunRefused, match=r"0002 label .* did not finish \(3 rows done\)"):
        runner.migrate()
    db.execute("DROP INDEX items_label")
    outcomes = runner.migrate(resume=True)
    assert [(o.migration.label, o.rows) for o in outcomes] == [("0002", 6)]
    assert "resuming 0002 label (3 rows done)" in out.getvalue()
    assert labelled(db) == 6
    assert db.rows("SELECT rows_affected FROM schema_version WHERE version = 2") == [(6,)]
    assert runner.dirty() == []


READINGS = (
    "CREATE TABLE readings (id INTEGER PRIMARY KEY, label TEXT);\n"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)\n"
    "INSERT INTO readings (id) SELECT i FROM n;\n"
)
BATCH = (
    "-- @batch 7\n"
    "-- @progress SELECT count(*) FROM readings WHERE label IS NULL\n"
    "UPDATE readings SET label = 'dev-' || id\n"
    " WHERE id IN (SELECT id FROM readings WHERE label IS NULL LIMIT :batch_size);\n"
)


def test_batch_migration_commits_per_batch_and_records_once(write_tree: WriteTree, db: Db) -> None:
    root = write_tree(tree({"schema/0001_readings.sql": READINGS, "data/0002_label.sql": BATCH}))
    runner, out = db.runner(root, progress_interval=0.0)
    outcomes = runner.migrate()
    assert [(o.migration.label, o.rows) for o in outcomes] == [("0001", 100), ("0002", 100)]
    assert db.rows("SELECT count(*) FROM readings WHERE label = 'dev-' || id") == [(100,)]
    assert db.rows(
        "SELECT rows_affected, cleared_at IS NOT NULL FROM schema_version_log "
        "WHERE action = 'dirty'",
    ) == [(100, True)]
    assert db.rows("SELECT rows_affected FROM schema_version WHERE version = 2") == [(100,)]
    text = out.getvalue()
    assert "0002 label: 7/100 rows (7%)" in text and "ETA" in text  # plain lines off a tty


def test_batch_file_must_be_one_statement_using_batch_size(write_tree: WriteTree, db: Db) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_readings.sql": READINGS,
                "data/0002_label.sql": "-- @batch 10\nUPDATE readings SET label = 'x';\n",
            }
        )
    )
    runner, _ = db.runner(root)
    with pytest.raises(
        RunRefused, match=r"0002_label.sql:2: a @batch statement must use :batch_size"
    ):
        runner.migrate()
    assert runner.applied() == []


@pytest.mark.parametrize(
    ("progress", "message"),
    [
        ("SELECT count(*) FROM nowhere", "@progress query failed: "),
        ("SELECT 'six'", "@progress query must return one number"),
        ("SELECT 1 WHERE 1 = 0", "@progress query must return one number"),
    ],
)
def test_a_progress_query_that_gives_no_number_fails_on_its_line(
    write_tree: WriteTree, db: Db, progress: str, message: str
) -> None:
    batch = f"-- @batch 2\n-- @progress {progress}\n{LABEL}"
    with pytest.raises(MigrationFailed) as failed:
        migrate(write_tree, db, batch)
    assert failed.value.line == 2 and failed.value.message.startswith(message)
    assert "nowhere" in failed.value.message or "nowhere" not in progress
    assert failed.value.path.endswith("data/0002_label.sql")
    assert labelled(db) == 0


def test_progress_counts_against_the_progress_querys_total(write_tree: WriteTree, db: Db) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_items.sql": ITEMS.replace("id <> 5", "id > 0"),
                "data/0002_label.sql": (
                    "-- @batch 4\n-- @progress SELECT count(*) FROM items WHERE label IS NULL\n"
                    + LABEL
                ),
            }
        )
    )
    runner, out = db.runner(root, progress_interval=0.0)
    (_, outcome) = runner.migrate()
    assert (outcome.action, outcome.rows) == ("applied", 6)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("0002 label: 4/6 rows (67%), ")
    assert lines[1].startswith("0002 label: 6/6 rows (100%), ")
    assert lines[2].startswith("0002 label: 6 rows in ")


def test_a_batch_that_keeps_changing_the_same_rows_is_a_runaway(
    write_tree: WriteTree, db: Db
) -> None:
    # six rows, batches of two: the bound is passed at 8 rows, counted again (6 + 6 = 12), then
    # passed for good at 14
    endless = (
        "-- @batch 2\n"
        "UPDATE items SET id = id + 0 WHERE id IN (SELECT id FROM items LIMIT :batch_size);\n"
    )
    with pytest.raises(Runaway) as stopped:
        migrate(write_tree, db, endless)
    assert stopped.value.line == 2
    assert stopped.value.message.startswith(
        "@batch: 7 batches changed 14 rows, more than items holds (at most 12: "
    )
    assert "so the last batch changes nothing" in stopped.value.hint
    assert stopped.value.left_dirty == (
        "0002 is a @batch migration; its finished batches (12 rows) stay committed"
    )


def test_an_insert_that_fills_an_empty_table_is_no_runaway(write_tree: WriteTree, db: Db) -> None:
    copy = (
        "-- @batch 1\nINSERT INTO copies SELECT id FROM items\n"
        " WHERE id NOT IN (SELECT id FROM copies) LIMIT :batch_size;\n"
    )
    root = write_tree(
        tree(
            {
                "schema/0001_items.sql": ITEMS + "CREATE TABLE copies (id INTEGER);\n",
                "data/0002_copy.sql": copy,
            }
        )
    )
    runner, _ = db.runner(root)
    (_, outcome) = runner.migrate()
    assert outcome.rows == 6  # the bound grew with the table: 0, then 1, 2, 4, 8 rows
    assert db.rows("SELECT count(*) FROM copies") == [(6,)]


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("UPDATE items SET x = 1", "items"),
        ("update or ignore items set x = 1", "items"),
        ("DELETE FROM main.items WHERE 1", "main.items"),
        ("INSERT INTO items SELECT 1", "items"),
        ("INSERT OR REPLACE INTO items VALUES (1)", "items"),
        ("REPLACE INTO items VALUES (1)", "items"),
        ('UPDATE "odd ""name""" SET x = 1', '"odd ""name"""'),
        ("UPDATE [items] SET x = 1", "[items]"),
        ("UPDATE `main` . `items` SET x = 1", "`main` . `items`"),
    ],
)
def test_the_table_a_statement_writes(statement: str, table: str) -> None:
    match = TARGET.match(statement)
    assert match is not None and match["name"] == table


def test_a_statement_starting_with_with_names_no_table() -> None:
    assert TARGET.match("WITH x AS (SELECT 1) UPDATE items SET x = 1") is None
