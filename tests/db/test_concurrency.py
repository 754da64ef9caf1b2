"""Several `python -m ci.migrate` runs on one database at once, and who may take over a dirty mark.

The stress tests start 2 or 4 real runner processes and hold them all on one file lock until every
one is ready, then release it, so they reach the database together. A loser may give up (exit 2,
one line); a migration applied twice, or taken over from a runner that is still applying it,
never happens.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.db import bookkeeping
from ci.migrate import main
from tests.conftest import MIGRATIONS, REPO, query, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]
ROWS = 200
TRIALS = 20

# --setup hook of every raced runner: say "ready", then wait for the test to release the gate
GATE_MODULE = """\
import fcntl, os, pathlib


def wait(conn):
    # no fsync per commit (a @batch commits every batch): power loss is not what is tested here
    conn.execute("PRAGMA synchronous = OFF")
    base = pathlib.Path(os.environ["MG_TEST_GATE"])
    (base / f"ready-{os.getpid()}").touch()
    with open(base / "gate", "rb") as gate:
        fcntl.flock(gate, fcntl.LOCK_SH)
"""

SCHEMA = (
    "CREATE TABLE a (id INTEGER PRIMARY KEY, v INTEGER NOT NULL DEFAULT 0, done INTEGER);\n"
    "CREATE TABLE hits (what TEXT);\n"
    f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})\n"
    "INSERT INTO a (id) SELECT i FROM n;\n"
)
# A read that takes ~0.1 s without holding the write lock: a runner waiting for the lock (SQLite
# retries at most every 0.1 s) gets it while this run is still applying the migration.
SLOW_READ = (
    "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000) "
    "SELECT count(*) FROM n)"
)
NO_TRANSACTION = (
    "-- @no-transaction\n"
    "INSERT INTO hits VALUES ('started');\n"
    "UPDATE a SET v = v + 1;\n"
    f"SELECT {SLOW_READ};\n"
    "INSERT INTO hits VALUES ('finished');\n"
)
BATCH = (
    "-- @batch 4\n"
    # the @progress query runs after the dirty mark is open, before the first batch
    f"-- @progress SELECT (SELECT count(*) FROM a WHERE done IS NULL) + 0 * {SLOW_READ}\n"
    "UPDATE a SET v = v + 1, done = 1\n"
    " WHERE id IN (SELECT id FROM a WHERE done IS NULL LIMIT :batch_size);\n"
)
KINDS = {"no_transaction": NO_TRANSACTION, "batch": BATCH}


def runner_env(gate: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(gate.parent / "pycache")  # share compiled bytecode
    env["PYTHONPATH"] = str(gate)
    env["MG_TEST_GATE"] = str(gate)
    return env


def start_runner(db: Path, root: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ci.migrate", "--db", str(db),
         "--migrations-dir", str(root / MIGRATIONS), "--no-backup", "--busy-timeout", "20",
         *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def race(db: Path, root: Path, gate: Path, runners: int) -> list[tuple[int, str, str]]:
    """Start `runners` runs of ci.migrate held at one lock, release them at once; their results."""
    for ready in gate.glob("ready-*"):
        ready.unlink()
    env = runner_env(gate)
    with open(gate / "gate", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        procs = [start_runner(db, root, env, "--setup", "gate:wait") for _ in range(runners)]
        deadline = time.monotonic() + 60
        while len(list(gate.glob("ready-*"))) < runners and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break  # one ended before the gate: its output says why (asserted below)
            time.sleep(0.005)
        fcntl.flock(lock, fcntl.LOCK_UN)
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    return results


def assert_each_side_effect_once(db: Path, kind: str) -> None:
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT count(*), sum(v = 1) FROM a") == [(ROWS, ROWS)]  # each row once
    if kind == "no_transaction":
        assert query(db, "SELECT what, count(*) FROM hits GROUP BY what ORDER BY what") == [
            ("finished", 1),
            ("started", 1),
        ]
    rows = 2 + ROWS if kind == "no_transaction" else ROWS
    assert query(db, "SELECT version, count(*), sum(rows_affected) FROM schema_version "
                     "GROUP BY version ORDER BY version")[1:] == [(2, 1, rows)]  # fmt: skip
    logged = query(
        db,
        "SELECT action, count(*) FROM schema_version_log WHERE version = 2 "
        "GROUP BY action ORDER BY action",
    )
    assert logged == [("apply", 1), ("dirty", 1)]  # one mark, never resumed by another run
    assert query(db, "SELECT count(*) FROM schema_version_log WHERE action = 'dirty' "
                     "AND cleared_at IS NULL") == [(0,)]  # fmt: skip


def assert_losers_said_one_line(results: list[tuple[int, str, str]]) -> None:
    assert any(code == 0 for code, _, _ in results), results
    for code, out, err in results:
        if code == 0:
            assert "OK: database at 0002" in out, (out, err)
            continue
        assert code == 2, (code, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        gave_way = ("is being applied right now by", "locked by another process")
        assert any(reason in lines[0] for reason in gave_way), err


@pytest.mark.slow
@pytest.mark.parametrize("runners", [2, 4])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_runners_started_together_apply_each_migration_exactly_once(
    write_tree: WriteTree,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    runners: int,
) -> None:
    root = write_tree(tree({"schema/0001_a.sql": SCHEMA, f"data/0002_{kind}.sql": KINDS[kind]}))
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "gate.py").write_text(GATE_MODULE)
    (gate / "gate").write_bytes(b"")
    for trial in range(TRIALS):
        # a new database each time: each run goes through 0001 (the others wait for its lock,
        # then skip it) and all reach 0002 right after the first one started it
        db = tmp_path / f"trial{trial}.db"
        results = race(db, root, gate, runners)
        assert_losers_said_one_line(results)
        assert_each_side_effect_once(db, kind)
        capsys.readouterr()
        assert main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS),
                     "--no-backup"]) == 0  # fmt: skip
        assert "up to date at 0002" in capsys.readouterr().out
        assert_each_side_effect_once(db, kind)


# --- who may take over a dirty mark --------------------------------------------------------------

# --setup hook: `holder()` is the owner text the test gives; `grab_lock()` makes a second
# connection take the write lock and keep it, as another process would; `plant_mark()` writes
# the dirty mark another runner would
HOOKS_MODULE = """\
import os, sqlite3

KEPT = []


def register(conn):
    conn.create_function("holder", 0, lambda: os.environ.get("MG_TEST_HOLDER"))
    conn.create_function("grab_lock", 0, lambda: grab(conn))
    conn.create_function("plant_mark", 0, lambda: plant(conn))


def plant(conn):
    # what another runner writes (a migration itself may not write the runner's tables)
    conn.execute(
        "INSERT INTO schema_version_log (logged_at, action, version, migration_type, "
        "description, rows_affected, applied_by) VALUES ('2026-12-01T10:00:00.000Z', 'dirty', "
        "2, 'data', 'fill', 0, ?)",
        (os.environ.get("MG_TEST_HOLDER"),),
    )
    return 1


def grab(conn):
    if os.environ.get("MG_TEST_GRAB") != "1":
        return 0
    path = next(row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    KEPT.append(other)
    return 1
"""

# 0001 opens a dirty mark for 0002 under the holder the test names, the way another runner would
# between this run's first look at the database and its start of 0002
MARKED_BY_ANOTHER_RUN = {
    "schema/0001_t.sql": ("CREATE TABLE t (x INTEGER PRIMARY KEY);\nSELECT plant_mark();\n"),
    "data/0002_fill.sql": "-- @no-transaction\nINSERT OR IGNORE INTO t VALUES (1);\n",
}


def hooked(tmp_path: Path, **env: str) -> dict[str, str]:
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "mg_test_hooks.py").write_text(HOOKS_MODULE)
    return runner_env(hooks) | env


def run_hooked(db: Path, root: Path, env: dict[str, str], *extra: str) -> tuple[int, str, str]:
    proc = start_runner(db, root, env, "--setup", "mg_test_hooks:register", *extra)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def this_process(*, started: int | None = None, boot: str | None = None) -> str:
    """The test process as a mark's holder (alive); another start time or boot id on request."""
    identity = bookkeeping.owner()
    assert " started " in identity and " boot " in identity, identity  # pid reuse is told apart
    real_started = bookkeeping.process_start(os.getpid())
    real_boot = bookkeeping.boot_id()
    assert real_started is not None and real_boot is not None
    return identity.replace(
        f" started {real_started} boot {real_boot}",
        f" started {real_started if started is None else started} boot {boot or real_boot}",
    )


def open_marks(db: Path) -> list[tuple[object, ...]]:
    return query(db, "SELECT version, applied_by FROM schema_version_log "
                     "WHERE action = 'dirty' AND cleared_at IS NULL")  # fmt: skip


@pytest.mark.parametrize("resume", [False, True])
def test_a_mark_held_by_a_live_runner_is_never_taken_over(
    write_tree: WriteTree, tmp_path: Path, resume: bool
) -> None:
    root = write_tree(tree(MARKED_BY_ANOTHER_RUN))
    db = tmp_path / "app.db"
    holder = this_process()
    env = hooked(tmp_path, MG_TEST_HOLDER=holder)
    extra = ["--resume"] if resume else []
    for attempt in ("the mark appears while this run goes", "the mark is there at the start"):
        code, _out, err = run_hooked(db, root, env, *extra)
        assert code == 2, (attempt, err)
        assert err.splitlines() == [
            f"migrate: 0002 fill is being applied right now by process {os.getpid()} on "
            f"{socket.gethostname()} ({bookkeeping.APPLIED_BY}) (started at "
            "2026-12-01T10:00:00.000Z); wait for it to finish"
        ], attempt
        assert query(db, "SELECT count(*) FROM t") == [(0,)]  # 0002 did not run
        assert open_marks(db) == [(2, holder)]


@pytest.mark.parametrize(
    "holder, why",
    [
        ("migration-guard 0.1.0 pid 4242 on elsewhere.example started 77 boot b-1",
         "it was written on another host, elsewhere.example"),
        ("{tool} pid {pid} on {host}",
         "pid {pid} is in use and the mark records no process start time"),
        ("", "the mark does not say which process holds it"),
    ],
)  # fmt: skip
def test_a_mark_whose_holder_cannot_be_proven_gone_is_refused_naming_force_clean(
    write_tree: WriteTree, tmp_path: Path, holder: str, why: str
) -> None:
    fill = {"pid": str(os.getpid()), "host": socket.gethostname(), "tool": "migration-guard 0.1.0"}
    holder, why = holder.format(**fill), why.format(**fill)
    root = write_tree(tree(MARKED_BY_ANOTHER_RUN))
    db = tmp_path / "app.db"
    env = hooked(tmp_path, MG_TEST_HOLDER=holder)
    for extra in ([], ["--resume"]):
        code, _out, err = run_hooked(db, root, env, *extra)
        assert code == 2, err
        [line] = err.splitlines()
        assert line.startswith("migrate: database is dirty: 0002 fill was started at "
                               "2026-12-01T10:00:00.000Z by "), line  # fmt: skip
        assert line.endswith(
            f"which cannot be proven to have stopped ({why}); make sure that process is gone, "
            f"then run python -m ci.migrate --db {db.resolve()} --force-clean"
        ), line
        assert query(db, "SELECT count(*) FROM t") == [(0,)]
    cleaned = run_hooked(db, root, env, "--force-clean")
    assert cleaned[0] == 0, cleaned
    assert run_hooked(db, root, env)[0] == 0
    assert query(db, "SELECT count(*) FROM t") == [(1,)] and open_marks(db) == []


@pytest.mark.parametrize("gone", ["reused pid", "restarted machine", "no such pid"])
def test_a_mark_whose_holder_is_provably_gone_is_dirty_and_resumable(
    write_tree: WriteTree, tmp_path: Path, gone: str
) -> None:
    if gone == "reused pid":  # this pid is alive, but it is not the process that took the mark
        holder = this_process(started=(bookkeeping.process_start(os.getpid()) or 0) + 1)
    elif gone == "restarted machine":
        holder = this_process(boot="00000000-0000-0000-0000-000000000000")
    else:
        ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                               capture_output=True, text=True, check=True)  # fmt: skip
        holder = f"{bookkeeping.APPLIED_BY} pid {ended.stdout.strip()} on {socket.gethostname()}"
    root = write_tree(tree(MARKED_BY_ANOTHER_RUN))
    db = tmp_path / "app.db"
    env = hooked(tmp_path, MG_TEST_HOLDER=holder)
    code, _out, err = run_hooked(db, root, env)
    assert code == 1, err  # not taken over without --resume, even inside the run
    assert "migrate: database is dirty: 0002 fill started at 2026-12-01T10:00:00.000Z" in err
    assert query(db, "SELECT count(*) FROM t") == [(0,)]
    code, out, err = run_hooked(db, root, env, "--resume")
    assert code == 0, err
    assert "resuming 0002 fill" in err and "OK: database at 0002" in out
    assert query(db, "SELECT count(*) FROM t") == [(1,)] and open_marks(db) == []


# --- a @no-transaction migration that loses the database midway ----------------------------------


@pytest.mark.parametrize("where", ["between its statements", "when it is recorded"])
def test_a_lock_lost_inside_a_no_transaction_migration_says_the_database_is_dirty(
    write_tree: WriteTree, tmp_path: Path, where: str
) -> None:
    rest = "INSERT OR IGNORE INTO t VALUES (2);\n" if where == "between its statements" else ""
    fill = "-- @no-transaction\nINSERT OR IGNORE INTO t VALUES (1);\nSELECT grab_lock();\n" + rest
    root = write_tree(tree({"schema/0001_t.sql": "CREATE TABLE t (x INTEGER PRIMARY KEY);\n",
                            "data/0002_fill.sql": fill}))  # fmt: skip
    db = tmp_path / "app.db"
    path = root / MIGRATIONS / "data" / "0002_fill.sql"
    env = hooked(tmp_path, MG_TEST_GRAB="1")
    code, _out, err = run_hooked(db, root, env, "--busy-timeout", "0.1")
    assert code == 2, err
    [line] = err.splitlines()
    ran = (
        f"the statements before {path}:4 ran and stay committed, that one and the rest did not"
        if rest
        else "all its statements ran and stay committed, but it is not recorded as applied"
    )
    assert line == (
        f"migrate: {db.resolve()}: locked by another process; gave up after waiting 0.1 s (see "
        f"--busy-timeout); the database is now dirty: 0002 fill (@no-transaction) did not "
        f"finish: {ran}; when no other process holds the database, run python -m ci.migrate "
        f"--db {db.resolve()} --resume (it runs the migration again from its first statement)"
    )
    assert query(db, "SELECT x FROM t") == [(1,)]
    assert [v for v, _ in open_marks(db)] == [2]
    code, _out, err = run_hooked(db, root, hooked(tmp_path), "--resume")
    assert code == 0, err
    assert query(db, "SELECT x FROM t") == [(1,), (2,)] if rest else [(1,)]
    assert open_marks(db) == []


def test_force_clean_never_clears_the_mark_of_a_live_runner(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(MARKED_BY_ANOTHER_RUN))
    db = tmp_path / "app.db"
    holder = this_process()
    env = hooked(tmp_path, MG_TEST_HOLDER=holder)
    assert run_hooked(db, root, env)[0] == 2
    code, _out, err = run_hooked(db, root, env, "--force-clean")
    assert code == 2, err
    assert "0002 fill is being applied right now by process" in err
    assert open_marks(db) == [(2, holder)]


def test_a_lock_lost_inside_a_batch_migration_says_how_far_it_got(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    label = (
        "-- @batch 5\n"
        "-- @progress SELECT count(*) + 0 * grab_lock() FROM t WHERE label IS NULL\n"
        "UPDATE t SET label = 'L' || x\n"
        " WHERE x IN (SELECT x FROM t WHERE label IS NULL LIMIT :batch_size);\n"
    )
    fill = (
        "CREATE TABLE t (x INTEGER PRIMARY KEY, label TEXT);\n"
        "INSERT INTO t (x) VALUES (1), (2), (3), (4), (5), (6), (7);\n"
    )
    root = write_tree(tree({"schema/0001_t.sql": fill, "data/0002_label.sql": label}))
    db = tmp_path / "app.db"
    code, _out, err = run_hooked(
        db, root, hooked(tmp_path, MG_TEST_GRAB="1"), "--busy-timeout", "0.1"
    )
    assert code == 2, err
    assert err.splitlines() == [
        f"migrate: {db.resolve()}: locked by another process; gave up after waiting 0.1 s (see "
        "--busy-timeout); the database is now dirty: 0002 label (@batch) did not finish: 0 rows "
        "done, each finished batch committed; when no other process holds the database, run "
        f"python -m ci.migrate --db {db.resolve()} --resume (it continues where it stopped)"
    ]
    code, _out, err = run_hooked(db, root, hooked(tmp_path), "--resume")
    assert code == 0, err
    assert query(db, "SELECT count(*) FROM t WHERE label = 'L' || x") == [(7,)]
