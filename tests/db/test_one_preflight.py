"""A deploy checks its plan once: `ci.migrate` runs the preflight for its plan line, and the
run reuses that pending list while the database has not changed since the preflight began
reading it. Anything another connection commits meanwhile (a migration applied, a dirty mark
left), or a change on the runner's own connection, makes the run check again, as a second
preflight always did.

Real SQLite files, the real Runner and a second real connection; SQLite's trace callback
counts the preflight's own reads of the applied rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.db import bookkeeping
from ci.db.plan import entry_for
from ci.db.runner import RunRefused
from tests.conftest import make_runner, query, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]

FILES = {
    "schema/0001_a.sql": "CREATE TABLE a (x);\n",
    "schema/0002_b.sql": "CREATE TABLE b (x);\n",
    "data/0003_fill.sql": "INSERT INTO a VALUES (1);\n",
}
READS_MARKS = "action = 'dirty' AND cleared_at IS NULL"  # the preflight's look for dirty marks


def traced(conn: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    return seen


def test_the_run_reuses_the_plan_when_nothing_changed(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    root = write_tree(tree(FILES))
    first, _ = make_runner(root, db)
    first.migrate(1)  # the runner's tables exist: the preflight reads them
    first.conn.close()
    runner, _ = make_runner(root, db)
    pending = runner.preflight()  # the plan line's
    seen = traced(runner.conn)
    outcomes = runner.migrate()
    assert [o.migration for o in outcomes] == pending
    assert [o.action for o in outcomes] == ["applied", "applied"]
    assert sum(READS_MARKS in sql for sql in seen) == 0  # no second preflight


def test_a_migration_applied_meanwhile_is_not_in_the_run(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    root = write_tree(tree(FILES))
    runner, _ = make_runner(root, db)
    runner.ensure_bookkeeping()
    assert [m.version for m in runner.preflight()] == [1, 2, 3]
    other, _ = make_runner(root, db)  # another process applies 0001 and 0002 meanwhile
    other.migrate(2)
    other.conn.close()
    outcomes = runner.migrate()
    assert [(o.migration.version, o.action) for o in outcomes] == [(3, "applied")]
    assert query(db, "SELECT version FROM schema_version ORDER BY version") == [(1,), (2,), (3,)]


def test_a_dirty_mark_left_meanwhile_refuses_the_run(write_tree: WriteTree, tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    root = write_tree(tree(FILES))
    runner, _ = make_runner(root, db)
    runner.ensure_bookkeeping()
    runner.preflight()
    # another process leaves a dirty mark on 0002 (a @no-transaction run that stopped)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    bookkeeping.open_mark(other, entry_for(runner.catalog.main[1]))
    other.execute("COMMIT")
    other.close()
    with pytest.raises(RunRefused, match="0002"):
        runner.migrate()
    assert query(db, "SELECT count(*) FROM schema_version") == [(0,)]


def test_a_change_on_the_runners_own_connection_checks_again(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(FILES)), db)
    runner.ensure_bookkeeping()
    runner.preflight()
    runner.conn.execute("CREATE TABLE a (x)")
    runner.conn.execute(
        "INSERT INTO schema_version (version, migration_type, description, applied_at) "
        "VALUES (1, 'schema', 'a', '2026-01-01')"
    )  # recorded by hand on the same connection (a --setup, a caller)
    seen = traced(runner.conn)
    outcomes = runner.migrate()
    assert [o.migration.version for o in outcomes] == [2, 3]
    assert sum(READS_MARKS in sql for sql in seen) == 1


def test_a_plan_is_reused_once_and_only_for_the_same_arguments(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(FILES)), db)
    runner.ensure_bookkeeping()
    assert [m.version for m in runner.preflight(1)] == [1]
    seen = traced(runner.conn)
    outcomes = runner.migrate()  # another target: checked again, everything pending
    assert [o.migration.version for o in outcomes] == [1, 2, 3]
    assert sum(READS_MARKS in sql for sql in seen) == 1


def test_each_file_is_tokenised_once_per_run(
    write_tree: WriteTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight computes each pending file's code hash ahead (ci.db.plan.read_files_ahead)
    and the apply records that one: the file is not tokenised a second time."""
    from ci.core.sqltext import code_fingerprint
    from ci.db import plan

    # texts no other test uses: the code hash is cached per text for the whole process
    files = {name: f"-- {tmp_path.name}\n{sql}" for name, sql in FILES.items()}
    tokenised: list[str] = []

    def counted(text: str, engine: str = "sqlite") -> str:
        tokenised.append(text)
        return code_fingerprint(text, engine)

    monkeypatch.setattr(plan, "code_fingerprint", counted)
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(files)), db)
    runner.migrate()
    assert sorted(tokenised) == sorted(files.values())
    recorded = query(db, "SELECT code_hash FROM schema_version ORDER BY version")
    assert recorded == [(code_fingerprint(text),) for text in files.values()]
