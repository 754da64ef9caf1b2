"""ci.db.batch: `@batch N` migrations through the runner (what the runner's callers use), and the
bound that stops a batch that would never end.

The runner's own @batch tests (commit per batch, resume) are in test_runner.py; here: the
@progress query's failures, what a failed batch leaves committed, the table a statement
writes, and the row bound. Real SQLite files; no mocks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.db.batch import TARGET
from ci.db.runner import MigrationFailed, Runaway
from tests.conftest import WriteTree, make_runner, query, tree

ITEMS = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT CHECK (label IS NULL OR id <> 5));\n"
    "INSERT INTO items (id) VALUES (1), (2), (3), (4), (5), (6);\n"
)
LABEL = (
    "UPDATE items SET label = 'L' || id\n"
    " WHERE id IN (SELECT id FROM items WHERE label IS NULL LIMIT :batch_size);\n"
)


def migrate(write_tree: WriteTree, tmp_path: Path, batch: str, **options: object) -> Path:
    """Apply 0001 (six items) and the @batch migration 0002; the database."""
    root = write_tree(tree({"schema/0001_items.sql": ITEMS, "data/0002_label.sql": batch}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db, **options)
    try:
        runner.migrate()
    finally:
        runner.conn.close()
    return db


def labelled(db: Path) -> int:
    return int(str(query(db, "SELECT count(*) FROM items WHERE label IS NOT NULL")[0][0]))


def test_a_failing_batch_leaves_the_finished_batches_committed_and_says_so(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    with pytest.raises(MigrationFailed, match="CHECK constraint failed") as failed:
        migrate(write_tree, tmp_path, f"-- @batch 2\n{LABEL}")  # the third batch holds id 5
    assert failed.value.left_dirty == (
        "0002 is a @batch migration; its finished batches (4 rows) stay committed"
    )
    assert labelled(tmp_path / "app.db") == 4


def test_a_first_batch_that_fails_leaves_nothing_committed(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    with pytest.raises(MigrationFailed) as failed:
        migrate(write_tree, tmp_path, f"-- @batch 6\n{LABEL}")
    assert failed.value.left_dirty == (
        "0002 is a @batch migration; none of its batches was committed"
    )
    assert labelled(tmp_path / "app.db") == 0


@pytest.mark.parametrize(
    ("progress", "message"),
    [
        ("SELECT count(*) FROM nowhere", "@progress query failed: no such table: nowhere"),
        ("SELECT 'six'", "@progress query must return one number"),
        ("SELECT 1 WHERE 0", "@progress query must return one number"),
    ],
)
def test_a_progress_query_that_gives_no_number_fails_on_its_line(
    write_tree: WriteTree, tmp_path: Path, progress: str, message: str
) -> None:
    batch = f"-- @batch 2\n-- @progress {progress}\n{LABEL}"
    with pytest.raises(MigrationFailed) as failed:
        migrate(write_tree, tmp_path, batch)
    assert (failed.value.line, failed.value.message) == (2, message)
    assert failed.value.path.endswith("data/0002_label.sql")
    assert labelled(tmp_path / "app.db") == 0


def test_progress_counts_against_the_progress_querys_total(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_items.sql": ITEMS.replace("id <> 5", "1"),
                "data/0002_label.sql": (
                    "-- @batch 4\n-- @progress SELECT count(*) FROM items WHERE label IS NULL\n"
                    + LABEL
                ),
            }
        )
    )
    runner, out = make_runner(root, tmp_path / "app.db", progress_interval=0.0)
    (_, outcome) = runner.migrate()
    assert (outcome.action, outcome.rows) == ("applied", 6)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("0002 label: 4/6 rows (67%), ")
    assert lines[1].startswith("0002 label: 6/6 rows (100%), ")
    assert lines[2].startswith("0002 label: 6 rows in ")


def test_a_batch_that_keeps_changing_the_same_rows_is_a_runaway(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    # six rows, batches of two: the bound is passed at 8 rows, counted again (6 + 6 = 12), then
    # passed for good at 14
    endless = (
        "-- @batch 2\n"
        "UPDATE items SET id = id + 0 WHERE id IN (SELECT id FROM items LIMIT :batch_size);\n"
    )
    with pytest.raises(Runaway) as stopped:
        migrate(write_tree, tmp_path, endless)
    assert stopped.value.line == 2
    assert stopped.value.message.startswith(
        "@batch: 7 batches changed 14 rows, more than items holds (at most 12: "
    )
    assert "so the last batch changes nothing" in stopped.value.hint


def test_an_insert_that_fills_an_empty_table_is_no_runaway(
    write_tree: WriteTree, tmp_path: Path
) -> None:
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
    runner, _ = make_runner(root, tmp_path / "app.db")
    (_, outcome) = runner.migrate()
    assert outcome.rows == 6  # the bound grew with the table: 0, then 1, 2, 4, 8 rows
    assert query(tmp_path / "app.db", "SELECT count(*) FROM copies") == [(6,)]


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
