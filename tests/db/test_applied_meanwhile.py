"""Each migration of a durable run learns inside its write lock whether it was applied meanwhile,
and asks `schema_version` only when it cannot be certain (ci.db.unapplied): a run alone on its
database never asks; a commit by another connection, or a change by the run's own connection
other than its migrations, makes every later migration ask, and one applied meanwhile is
skipped, never applied twice.

Real SQLite files, the real Runner, a second real connection; SQLite's trace callback counts
the runner's questions to the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ci.db.outcomes import Outcome
from ci.db.tables import IS_APPLIED
from tests.conftest import make_runner, query, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]

FILES = {f"schema/{n:04d}_t{n}.sql": f"CREATE TABLE t{n} (x);\n" for n in range(1, 6)}
ROW = (
    "INSERT INTO schema_version (version, migration_type, description, applied_at) "
    "VALUES (4, 'schema', 't4', '2026-01-01')"
)


def asks(seen: list[str]) -> int:
    return sum(IS_APPLIED.split(" WHERE")[0] in sql and "version = " in sql for sql in seen)


def traced(conn: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    return seen


def test_a_run_alone_never_asks_the_table(write_tree: WriteTree, tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(FILES)), db)
    seen = traced(runner.conn)
    assert [o.action for o in runner.migrate()] == ["applied"] * 5
    assert asks(seen) == 0
    assert query(db, "SELECT count(*) FROM schema_version") == [(5,)]


def test_a_migration_another_process_applies_during_the_run_is_skipped(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(FILES)), db)
    seen = traced(runner.conn)

    def other_applies_t4(outcome: Outcome) -> None:
        if outcome.migration.version == 2:  # between two migrations of the run
            other = sqlite3.connect(db)
            other.execute("CREATE TABLE t4 (x)")
            other.execute(ROW)
            other.commit()
            other.close()

    outcomes = runner.migrate(on_outcome=other_applies_t4)
    assert [o.action for o in outcomes] == ["applied", "applied", "applied", "skipped", "applied"]
    assert asks(seen) == 3  # from the other commit on, every migration asks
    assert query(db, "SELECT version FROM schema_version ORDER BY version") == [
        (1,), (2,), (3,), (4,), (5,)
    ]  # fmt: skip


def test_a_row_written_on_the_runs_own_connection_is_seen(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(FILES)), db)

    def record_t4_by_hand(outcome: Outcome) -> None:
        if outcome.migration.version == 2:  # same connection: PRAGMA data_version stays
            runner.conn.execute("CREATE TABLE t4 (x)")
            runner.conn.execute(ROW)

    outcomes = runner.migrate(on_outcome=record_t4_by_hand)
    assert [o.action for o in outcomes] == ["applied", "applied", "applied", "skipped", "applied"]


def test_a_migration_applied_by_the_run_is_not_certain_afterwards(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(FILES)), db)
    runner.migrate()
    again = runner.apply(runner.catalog.main[0])  # the same runner, the same connection
    assert again.action == "skipped"
    assert query(db, "SELECT count(*) FROM schema_version") == [(5,)]
