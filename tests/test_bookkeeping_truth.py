"""The bookkeeping tells the truth after every step (issue 13, classes 3, 4 and part of 10).

- A rollback that fails partway leaves the seeds it invalidated pending (also after kill -9).
- Upgrading an older `schema_version` keeps every column definition, index, trigger and view,
  or refuses before changing anything.
- Wrong values in the bookkeeping columns (a BLOB hash, a text or absurd version) are one line,
  never a traceback; absurd file numbers are refused.
- Read-only commands leave no `-wal`/`-shm` files beside a WAL database that had none.

Real SQLite files and real `python -m ci.*` processes (exit codes and tracebacks matter).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from conftest import run_module
from test_runner import MIGRATIONS, dump, query, tree, versions

WriteTree = Callable[[dict[str, str | bytes]], Path]


def migrate(root: Path, db: Path, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    done = run_module(
        "ci.migrate", "--db", str(db), "--migrations-dir", str(root / MIGRATIONS), *args, cwd=cwd
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


# --- class 3: a rollback that fails partway ----------------------------------------------------

SEEDED = {
    "schema/0001_base.sql": "CREATE TABLE base (x);\n",
    "schema/0002_extra.sql": "CREATE TABLE extra (x);\n",
    "schema/0003_settings.sql": "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);\n",
    "seed/0001_defaults.sql": "INSERT OR IGNORE INTO settings VALUES ('theme', 'dark');\n",
    "rollback/0001_rollback.sql": "DROP TABLE base;\n",
    "rollback/0002_rollback.sql": "DROP TABLE extra;\nDROP TABLE no_such_table;\n",
    "rollback/0003_rollback.sql": "DROP TABLE settings;\n",
}


def test_rollback_failing_partway_leaves_the_seeds_pending_and_the_rerun_refills(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(SEEDED))
    db = tmp_path / "app.db"
    assert migrate(root, db)[0] == 0
    code, output = migrate(root, db, "--rollback", "2", "--no-backup")
    assert code == 1, output
    assert "0002_rollback.sql:2: no such table: no_such_table" in output
    # 0003 was rolled back (its table, with the seed's row, is gone), 0002 was not
    assert versions(db) == [("schema", 1), ("schema", 2)]
    assert "seeds seed-0001 will run again" in output
    code, output = migrate(root, db, "--no-backup")
    assert code == 0, output
    assert query(db, "SELECT key, value FROM settings") == [("theme", "dark")]


def test_a_rollback_step_that_fails_keeps_the_seeds_applied(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """The reset belongs to the step: a step that is undone does not reset the seeds."""
    root = write_tree(
        tree(SEEDED | {"rollback/0003_rollback.sql": "DROP TABLE settings;\nSELECT nope;\n"})
    )
    db = tmp_path / "app.db"
    assert migrate(root, db)[0] == 0
    before = dump(db)
    code, output = migrate(root, db, "--rollback", "3", "--no-backup")
    assert code == 1, output
    assert dump(db) == before
    assert ("seed", 1) in versions(db)


KILL_AFTER_FIRST_ROLLBACK = '''
    """--setup for the test: kill -9 this process right after the first rollback step commits
    (at the next statement the connection runs, i.e. before the second step or anything else)."""
    import os
    import signal

    def setup(conn):
        state = {"dropped": False, "committed": False}

        def trace(sql):
            if state["committed"]:
                os.kill(os.getpid(), signal.SIGKILL)
            if "DROP TABLE settings" in sql:
                state["dropped"] = True
            elif state["dropped"] and sql.strip().upper() == "COMMIT":
                state["committed"] = True

        conn.set_trace_callback(trace)
'''


def test_kill_9_right_after_a_rollback_step_leaves_the_seeds_pending(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(SEEDED))
    db = tmp_path / "app.db"
    assert migrate(root, db)[0] == 0
    (tmp_path / "killer.py").write_text(textwrap.dedent(KILL_AFTER_FIRST_ROLLBACK))
    done = run_module(
        "ci.migrate", "--db", str(db), "--migrations-dir", str(root / MIGRATIONS),
        "--rollback", "2", "--no-backup", "--setup", "killer:setup", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == -9, done.stdout + done.stderr
    assert versions(db) == [("schema", 1), ("schema", 2)]  # 0003 rolled back, seeds pending
    code, output = migrate(root, db, "--no-backup")
    assert code == 0, output
    assert query(db, "SELECT key, value FROM settings") == [("theme", "dark")]
