"""`ci.migrate --group` as real processes: kill -9 at random moments, two grouped runners at once,
a group stopped by --statement-timeout or Ctrl-C.

kill -9 trials reuse kill_corpus.py (its checks hold with --group too) with one slow statement in
the first group, so that kills land inside it: after each, the database is at a group boundary
(the whole first group or none of it), and the next grouped run completes.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS, REPO, WriteTree, dump, query, tree
from tests.db.kill_corpus import (
    TABLES,
    assert_all_or_nothing,
    assert_complete,
    corpus,
    launch,
)
from tests.db.test_concurrency import GATE_MODULE, runner_env, start_runner
from tests.db.test_kill_trials import kill, recorded, run, timed

FIRST_GROUP = set(range(1, TABLES + 2))  # 0001_items and the copies: one group
# a read of ~0.2 s inside the first group's transaction: a window for the kills
SLOW_SELECT = (
    "SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 400000) SELECT i FROM n);\n"
)


def slow_corpus() -> dict[str, str | bytes]:
    spec = corpus()
    name = f"{MIGRATIONS}/schema/0003_copy3.sql"
    spec[name] = str(spec[name]) + SLOW_SELECT
    return spec


def wait_for_journal(db: Path, proc: subprocess.Popen[str]) -> None:
    """Return once the run holds a write transaction (its rollback journal exists), or ended."""
    journal = Path(f"{db}-journal")
    deadline = time.monotonic() + 60
    while proc.poll() is None and not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.001)


def wait_for_write_lock(db: Path, proc: subprocess.Popen[str]) -> None:
    """Return once the run holds the database's write lock (another connection's BEGIN
    IMMEDIATE is refused at once), or ended. A journal alone is not proof: the run's write test
    before its group opens and commits one of its own."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        wait_for_journal(db, proc)
        probe = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return  # locked: the run is inside its write transaction
        finally:
            probe.close()
        time.sleep(0.001)


def test_kill_9_inside_a_group_leaves_the_database_at_a_group_boundary(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(slow_corpus())
    duration = timed(tmp_path / "calibrate.db", root, "--group", "--no-backup")
    assert_complete(tmp_path / "calibrate.db")
    rng = random.Random(20261206)
    inside = 0
    for trial in range(16):
        db = tmp_path / f"trial{trial}.db"
        proc = launch(db, root, "--group", "--no-backup")
        if trial % 2:  # every other trial: once a write transaction is open
            wait_for_journal(db, proc)
            time.sleep(rng.uniform(0.0, 0.15))
        else:
            time.sleep(rng.uniform(0.0, duration * 1.1))
        killed = kill(proc)
        hot = Path(f"{db}-journal").exists()
        dirty = assert_all_or_nothing(db)  # opening it rolls a hot journal back
        done = recorded(db) & FIRST_GROUP
        assert done in (set(), FIRST_GROUP), (trial, done)  # all of the group or none
        if killed and hot and not done and "schema_version" in names(db):
            inside += 1  # killed with the group's transaction open: none of it stayed
        rerun = run(db, root, "--group", "--no-backup", *(["--resume"] if dirty else []))
        assert rerun.returncode == 0, (trial, rerun.stderr)
        assert_complete(db)
    assert inside >= 1  # the group really was interrupted


def names(db: Path) -> set[str]:
    return {str(r[0]) for r in query(db, "SELECT name FROM sqlite_master")}


# --- two grouped runners at once ------------------------------------------------------------

STEPS = 5
ROWS = 100
SLOW_READ = (
    "SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 200000) SELECT i FROM n);\n"
)


def counting_tree() -> dict[str, str | bytes]:
    spec: dict[str, str | bytes] = {
        "schema/0001_a.sql": (
            "CREATE TABLE a (id INTEGER PRIMARY KEY, v INTEGER NOT NULL DEFAULT 0);\n"
            "CREATE TABLE hits (what TEXT);\n"
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})\n"
            "INSERT INTO a (id) SELECT i FROM n;\n"
        )
    }
    for n in range(2, STEPS + 2):
        spec[f"data/{n:04d}_step.sql"] = (
            f"INSERT INTO hits VALUES ('{n}');\nUPDATE a SET v = v + 1;\n{SLOW_READ}"
        )
    return tree(spec)


def race(db: Path, root: Path, gate: Path) -> list[tuple[int, str, str]]:
    """Two grouped runs held at one lock, released at once (test_concurrency's gate)."""
    for ready in gate.glob("ready-*"):
        ready.unlink()
    env = runner_env(gate)
    with open(gate / "gate", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        procs = [start_runner(db, root, env, "--setup", "gate:wait", "--group") for _ in "ab"]
        deadline = time.monotonic() + 60
        while len(list(gate.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.005)
        fcntl.flock(lock, fcntl.LOCK_UN)
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    return results


def test_two_grouped_runners_at_once_apply_each_migration_exactly_once(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(counting_tree())
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "gate.py").write_text(GATE_MODULE)
    (gate / "gate").write_bytes(b"")
    for trial in range(8):
        db = tmp_path / f"trial{trial}.db"
        results = race(db, root, gate)
        for code, out, err in results:
            assert code == 0, (trial, out, err)  # the second waits for the lock, then skips
            assert f"OK: database at {STEPS + 1:04d}" in out, (out, err)
        assert query(db, "SELECT count(*), sum(v = ?) FROM a", (STEPS,)) == [(ROWS, ROWS)]
        hits = query(db, "SELECT what, count(*) FROM hits GROUP BY what ORDER BY what")
        assert hits == [(str(n), 1) for n in range(2, STEPS + 2)]
        applies = query(db, "SELECT version, count(*) FROM schema_version_log "
                            "WHERE action = 'apply' GROUP BY version")  # fmt: skip
        assert applies == [(n, 1) for n in range(1, STEPS + 2)]


def test_a_runner_that_planned_a_group_another_is_applying_waits_and_applies_none(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """The overlap the race above may or may not produce under load, made certain: A is stopped
    (SIGSTOP) inside its group's transaction, B plans the same migrations (its plan line is
    out), then A goes on and commits; B waits for the write lock and applies none of them."""
    root = write_tree(counting_tree())
    db = tmp_path / "app.db"
    first = migrate(root, db, "--target", "1")
    assert first.returncode == 0, first.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONUNBUFFERED"] = "1"  # B's plan line must reach us before B ends
    a = start_runner(db, root, env, "--group")
    wait_for_write_lock(db, a)
    a.send_signal(signal.SIGSTOP)
    try:
        assert a.poll() is None, "A ended before it could be held inside its group"
        b = start_runner(db, root, env, "--group")
        assert b.stdout is not None
        plan = b.stdout.readline()
        assert f"{STEPS} to apply" in plan, plan
    finally:
        a.send_signal(signal.SIGCONT)
    a_out, a_err = a.communicate(timeout=120)
    b_out, b_err = b.communicate(timeout=120)
    assert a.returncode == 0 and b.returncode == 0, (a_err, b_err)
    assert f"group of {STEPS} migrations" in a_out
    # B planned all five; under the write lock it finds them applied (its check before any
    # change, or the group's own read of the applied set) and applies none
    assert "applied 0" not in b_out and f"OK: database at {STEPS + 1:04d}" in b_out, b_out
    assert query(db, "SELECT what, count(*) FROM hits GROUP BY what ORDER BY what") == [
        (str(n), 1) for n in range(2, STEPS + 2)
    ]


# --- a group stopped by its time limit or by Ctrl-C ------------------------------------------

NEVER_ENDS = (
    "CREATE TABLE forever (x);\n"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\n"
)
RUNAWAY_TREE = {
    "schema/0001_base.sql": "CREATE TABLE base (x);\n",
    "schema/0002_b.sql": "CREATE TABLE b (x);\nINSERT INTO b VALUES (1);\n",
    "schema/0003_forever.sql": NEVER_ENDS,
    "schema/0004_c.sql": "CREATE TABLE c (x);\n",
}


def migrate(root: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ci.migrate", "--db", str(db)]
    command += ["--migrations-dir", str(root / MIGRATIONS), "--no-backup", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_a_group_member_past_its_statement_timeout_rolls_back_the_whole_group(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(RUNAWAY_TREE))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1").returncode == 0
    before = dump(db)
    done = migrate(root, db, "--group", "--statement-timeout", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0003_forever.sql:2: still running after --statement-timeout 1 s" in done.stderr
    assert "group rolled back: 0002..0004" in done.stdout
    assert dump(db) == before


@pytest.mark.parametrize("timeout", [("--statement-timeout", "600"), ()], ids=["timeout", "none"])
def test_ctrl_c_inside_a_group_rolls_back_the_whole_group(
    write_tree: WriteTree, tmp_path: Path, timeout: tuple[str, ...]
) -> None:
    """Also without --statement-timeout: SQLite runs the long statement without returning to
    Python, and Ctrl-C must still stop it (not wait for it to end, holding the write lock)."""
    root = write_tree(tree(RUNAWAY_TREE))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1").returncode == 0
    before = dump(db)
    args = ["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), "--no-backup", "--group"]
    process = subprocess.Popen(
        [sys.executable, "-m", "ci.migrate", *args, *timeout],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # the disposition a terminal would give (see test_runaway's Ctrl-C test)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        assert "3 to apply" in process.stdout.readline()
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)  # a hang guard: NEVER_ENDS never ends
    finally:
        process.kill()
    assert process.returncode == 130, out + err
    assert "interrupted during 0003_forever.sql: group rolled back: 0002..0004" in err
    assert "the group in progress was rolled back whole" in err
    assert dump(db) == before
    action, version, error = query(
        db, "SELECT action, version, error FROM schema_version_log ORDER BY id DESC LIMIT 1"
    )[0]
    assert (action, version) == ("group rolled back", 2)
    assert "3 migrations not applied" in str(error)
    assert "interrupted during 0003_forever.sql" in str(error)
