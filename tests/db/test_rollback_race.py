"""A rollback racing a runner that applies migrations, with real processes on a real SQLite file:
the rollback undoes exactly the plan it printed, or refuses the step that finds the database
changed by the other runner since (one line, that step's transaction rolled back)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import MIGRATIONS, REPO, query, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]

# --setup hook of runner A: `pause()` says "ready" and waits for the test to release the gate,
# inside A's transaction (A holds the write lock, no dirty mark is open yet)
PAUSE_MODULE = """\
import fcntl, os, pathlib


def register(conn):
    conn.create_function("pause", 0, lambda: pause())


def pause():
    base = pathlib.Path(os.environ["MG_TEST_GATE"])
    (base / "ready").touch()
    with open(base / "gate", "rb") as gate:
        fcntl.flock(gate, fcntl.LOCK_SH)
    return 1
"""

ROWS = 3000
MIGRATION_FILES: dict[str, str | bytes] = {
    "schema/0001_t.sql": (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, done INTEGER);\n"
        f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {ROWS})\n"
        "INSERT INTO t (id) SELECT i FROM c;\n"
    ),
    "rollback/0001_rollback.sql": "DROP TABLE t;\n",
    # A stops here, holding the write lock, until the test releases it
    "schema/0002_pause.sql": "CREATE TABLE u (x);\nSELECT pause();\n",
    "rollback/0002_rollback.sql": "DROP TABLE u;\n",
    "data/0003_batch.sql": (
        "-- @batch 10\n"
        "UPDATE t SET n = n + 1, done = 1\n"
        " WHERE id IN (SELECT id FROM t WHERE done IS NULL ORDER BY id LIMIT :batch_size);\n"
    ),
    "rollback/0003_rollback.sql": "UPDATE t SET n = 0, done = NULL;\n",
}


def migrate(db: Path, root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ci.migrate", "--db", str(db),
         "--migrations-dir", str(root / MIGRATIONS), "--no-backup", "--busy-timeout", "30",
         *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def gate_env(gate: Path) -> dict[str, str]:
    gate.mkdir(exist_ok=True)
    (gate / "mg_test_pause.py").write_text(PAUSE_MODULE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(gate.parent / "pycache")
    env["PYTHONPATH"] = str(gate)
    env["MG_TEST_GATE"] = str(gate)
    env["PYTHONUNBUFFERED"] = "1"  # the plan line is read while the run goes on
    return env


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "runner A never reached its pause"
        time.sleep(0.01)


def wait_until_open(db: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    fds = Path(f"/proc/{proc.pid}/fd")
    while not any(os.path.realpath(fd) == str(db) for fd in fds.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "runner B never opened the database"
        time.sleep(0.01)


def versions(db: Path) -> list[int]:
    return [row[0] for row in query(db, "SELECT version FROM schema_version ORDER BY version")]


def race(write_tree: WriteTree, tmp_path: Path, *rollback: str) -> tuple[str, int, str, str]:
    """Runner A applies 0002 (paused holding the write lock) then the @batch 0003; runner B
    starts `rollback` meanwhile. B's plan line, exit code, rest of stdout and stderr."""
    root = write_tree(tree(MIGRATION_FILES))
    db = tmp_path / "race.db"
    env = gate_env(tmp_path / "gate")
    setup = migrate(db, root, env, "--target", "1")
    assert setup.communicate(timeout=60) and setup.returncode == 0
    with open(tmp_path / "gate" / "gate", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        a = migrate(db, root, env, "--setup", "mg_test_pause:register")
        try:
            wait_for(tmp_path / "gate" / "ready", a)
            b = migrate(db, root, env, *rollback)
            assert b.stdout is not None
            if "--dry-run" in rollback:
                # the dry run prints its plan once it had the write lock: let it read the plan
                # (its first look at the database), then let A go on
                wait_until_open(db, b)
                time.sleep(1.0)
                plan = ""
            else:
                plan = b.stdout.readline()  # printed while A still holds the lock
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    out, err = b.communicate(timeout=120)
    if not plan:
        plan, _, out = out.partition("\n")
    a_out, a_err = a.communicate(timeout=120)
    assert a.returncode == 0, a_out + a_err
    return plan, b.returncode or 0, out, err


def test_a_rollback_never_undoes_more_than_its_printed_plan(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    plan, code, out, err = race(write_tree, tmp_path, "--rollback", "1")
    assert plan.endswith(": rolling back 0001\n")
    # 0002 was applied by A after B's plan: B's step 0001 refuses, nothing of it undone
    assert versions(tmp_path / "race.db") == [1, 2, 3], out + err
    assert code != 0 and "rolled back" not in out
    assert err.count("\n") == 1, err
    assert "another runner changed the database meanwhile" in err or "right now" in err, err


def test_the_dry_run_agrees_with_the_real_rollback_during_the_race(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    plan, code, out, err = race(write_tree, tmp_path, "--dry-run", "--rollback", "1")
    assert "plan to roll back 1 migration(s)" in plan, (plan, out, err)
    assert code != 0 and "would roll back 0002" not in out and "would roll back 0003" not in out
    assert "another runner changed the database meanwhile" in err or "right now" in err, err
    assert versions(tmp_path / "race.db") == [1, 2, 3]


def test_a_batch_held_mid_way_is_refused_alike_by_the_rollback_and_its_dry_run(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    # A waits at its @progress query: after its dirty mark is open, before the first batch
    batch = "-- @progress SELECT pause() + count(*) FROM t WHERE done IS NULL\n"
    batch += str(MIGRATION_FILES["data/0003_batch.sql"])
    files = {"schema/0002_pause.sql": "CREATE TABLE u (x);\n", "data/0003_batch.sql": batch}
    root = write_tree(tree(MIGRATION_FILES | files))
    db = tmp_path / "race.db"
    env = gate_env(tmp_path / "gate")
    setup = migrate(db, root, env, "--target", "2")
    assert setup.communicate(timeout=60) and setup.returncode == 0
    with open(tmp_path / "gate" / "gate", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        a = migrate(db, root, env, "--setup", "mg_test_pause:register")
        try:
            wait_for(tmp_path / "gate" / "ready", a)  # A's dirty mark is open, A is alive
            results = []
            for args in (["--dry-run", "--rollback", "1"], ["--rollback", "1"]):
                b = migrate(db, root, env, *args)
                _, err = b.communicate(timeout=60)
                results.append((b.returncode, err.replace("\n", "")))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    a_out, a_err = a.communicate(timeout=120)
    assert a.returncode == 0, a_out + a_err
    (dry_code, dry_err), (real_code, real_err) = results
    assert dry_code == real_code != 0
    assert "0003 batch is being applied right now" in dry_err, dry_err
    assert "0003 batch is being applied right now" in real_err, real_err
    assert versions(db) == [1, 2, 3]
