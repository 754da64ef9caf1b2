"""kill -9 at random moments of a real `python -m ci.migrate`, over five kinds of run.

Families: plain apply (transactional migrations, then seeds), inside a `@batch`, inside a
`@no-transaction` migration, during the backup, and during a rollback; 62 kills in all. After
each kill: `PRAGMA integrity_check` is ok, every migration is fully applied and recorded or
absent, every side effect happened at most once (exactly once after the rerun), a dirty mark is
reported, and the rerun (`--resume` when dirty) completes. Each family draws its delays from a
fixed seed, so a failure names a trial that reproduces.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import MIGRATIONS, WriteTree, query, tree
from tests.db.kill_corpus import (
    BATCH_VERSION,
    ROWS,
    assert_all_or_nothing,
    assert_complete,
    corpus,
    launch,
    wait_for_batch_rows,
)


def run(db: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = launch(db, root, *args)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill(proc: subprocess.Popen[str]) -> bool:
    """kill -9; whether the run was still going (it may have finished just before)."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode == -signal.SIGKILL


def timed(db: Path, root: Path, *args: str) -> float:
    """How long an uninterrupted run takes here, so the random kills land inside runs."""
    started = time.monotonic()
    done = run(db, root, *args)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def assert_dirty_is_reported(db: Path, root: Path) -> None:
    """A dirty database is named by --status and refused by a plain run, unchanged."""
    status = run(db, root, "--status")
    assert status.returncode == 1 and "DIRTY" in status.stdout, status.stdout + status.stderr
    refused = run(db, root, "--no-backup")
    assert refused.returncode == 1 and "dirty" in refused.stderr, refused.stderr


def integrity_ok(db: Path) -> None:
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


def recorded(db: Path) -> set[int]:
    if "schema_version" not in names(db):
        return set()
    rows = query(db, "SELECT version FROM schema_version WHERE migration_type != 'seed'")
    return {int(str(v)) for (v,) in rows}


def names(db: Path) -> set[str]:
    return {str(r[0]) for r in query(db, "SELECT name FROM sqlite_master")}


def open_marks(db: Path) -> int:
    if "schema_version_log" not in names(db):
        return 0
    sql = "SELECT count(*) FROM schema_version_log WHERE action = 'dirty' AND cleared_at IS NULL"
    return int(str(query(db, sql)[0][0]))


# --- plain apply and @batch (the corpus of kill_corpus.py) ---------------------------------


def test_kill_9_during_apply_and_inside_a_batch(write_tree: WriteTree, tmp_path: Path) -> None:
    # batches of 40 rather than 10: a quarter of the commits (and their fsyncs) per run, the
    # same migrations and checks
    root = write_tree(
        {k: str(v).replace("@batch 10\n", "@batch 40\n") for k, v in corpus().items()}
    )
    assert "@batch 40" in (root / MIGRATIONS / f"data/{BATCH_VERSION:04d}_label.sql").read_text()
    duration = timed(tmp_path / "calibrate.db", root, "--no-backup")
    assert_complete(tmp_path / "calibrate.db")
    rng = random.Random(20261204)
    dirty_seen = 0
    for trial in range(20):
        db = tmp_path / f"trial{trial}.db"
        proc = launch(db, root, "--no-backup")
        if trial % 2:  # every other trial: inside the @batch migration for sure
            wait_for_batch_rows(db, proc, rng.randrange(40, ROWS // 2, 40))
            time.sleep(rng.uniform(0.0, 0.01))
        else:
            time.sleep(rng.uniform(0.0, duration * 1.1))
        kill(proc)
        dirty = assert_all_or_nothing(db)
        if dirty:
            dirty_seen += 1
            if dirty_seen <= 2:  # (each check costs two runs)
                assert_dirty_is_reported(db, root)
                assert_all_or_nothing(db)
        rerun = run(db, root, "--no-backup", *(["--resume"] if dirty else []))
        assert rerun.returncode == 0, (trial, rerun.stderr)
        assert_complete(db)
    assert dirty_seen >= 1  # the @batch path was really interrupted


# --- @no-transaction ------------------------------------------------------------------------

STEPS = 30


def no_transaction_corpus() -> dict[str, str | bytes]:
    """0002 runs statement by statement; each one's side effect is countable and, as a
    @no-transaction file must be, safe to run again: a resumed run starts the file over."""
    steps = "".join(
        f"INSERT OR IGNORE INTO effects (k) VALUES ({i});\n"
        f"UPDATE accounts SET v = v + 1, bumped = 1 WHERE id = {i} AND bumped = 0;\n"
        for i in range(1, STEPS + 1)
    )
    return tree(
        {
            "schema/0001_ledger.sql": (
                "CREATE TABLE effects (k INTEGER PRIMARY KEY);\n"
                "CREATE TABLE inserts (n INTEGER NOT NULL);\n"
                "INSERT INTO inserts VALUES (0);\n"
                "CREATE TRIGGER counted AFTER INSERT ON effects BEGIN\n"
                "  UPDATE inserts SET n = n + 1;\n"
                "END;\n"
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, v INTEGER, bumped INTEGER);\n"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
                f"{STEPS})\nINSERT INTO accounts SELECT i, 0, 0 FROM n;\n"
            ),
            "data/0002_steps.sql": "-- @no-transaction\n" + steps,
            "schema/0003_after.sql": "CREATE TABLE after_steps (x);\n",
        }
    )


def assert_steps_at_most_once(db: Path) -> bool:
    """Every step's effect happened at most once, in file order; whether the db is dirty."""
    integrity_ok(db)
    done = recorded(db)
    assert done in (set(), {1}, {1, 2}, {1, 2, 3}), done
    assert ("after_steps" in names(db)) == (3 in done)
    if 1 not in done:
        assert "effects" not in names(db)
        return bool(open_marks(db))
    keys = [int(str(k)) for (k,) in query(db, "SELECT k FROM effects ORDER BY k")]
    assert keys == list(range(1, len(keys) + 1))  # a prefix: statements run in order
    assert query(db, "SELECT n FROM inserts") == [(len(keys),)]  # each insert ran once
    bumped = [int(str(i)) for (i,) in query(db, "SELECT id FROM accounts WHERE bumped = 1")]
    assert bumped == list(range(1, len(bumped) + 1))
    assert len(bumped) in (len(keys), len(keys) - 1)  # the kill may fall between the two
    assert query(db, "SELECT count(*) FROM accounts WHERE v != bumped") == [(0,)]  # never twice
    dirty = bool(open_marks(db))
    if 2 in done:
        assert len(bumped) == STEPS and not dirty
    elif not dirty:
        assert keys == []  # the mark is taken before the first statement runs
    return dirty


def test_kill_9_inside_a_no_transaction_migration_then_resume_completes_it_exactly_once(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(no_transaction_corpus())
    template = tmp_path / "at-0001.db"
    assert run(template, root, "--target", "1").returncode == 0
    calibrate = tmp_path / "calibrate.db"
    shutil.copy(template, calibrate)
    duration = timed(calibrate, root, "--no-backup")
    rng = random.Random(4242)
    dirty_seen = 0
    for trial in range(14):
        db = tmp_path / f"trial{trial}.db"
        shutil.copy(template, db)
        proc = launch(db, root, "--no-backup")
        time.sleep(rng.uniform(0.0, duration))
        kill(proc)
        dirty = assert_steps_at_most_once(db)
        if dirty:
            dirty_seen += 1
            if dirty_seen <= 3:  # (each check costs two runs)
                assert_dirty_is_reported(db, root)
                assert assert_steps_at_most_once(db)
        rerun = run(db, root, "--no-backup", *(["--resume"] if dirty else []))
        assert rerun.returncode == 0, (trial, rerun.stderr)
        assert not assert_steps_at_most_once(db)
        assert recorded(db) == {1, 2, 3}
        assert query(db, "SELECT count(*), sum(v) FROM accounts") == [(STEPS, STEPS)]
    assert dirty_seen >= 1  # the @no-transaction file was really interrupted midway


# --- backup ---------------------------------------------------------------------------------


def backup_corpus() -> dict[str, str | bytes]:
    return tree(
        {
            "schema/0001_big.sql": (
                "CREATE TABLE big (id INTEGER PRIMARY KEY, pad BLOB);\n"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
                "6000)\nINSERT INTO big SELECT i, randomblob(4000) FROM n;\n"
            ),
            "schema/0002_small.sql": "CREATE TABLE small (x);\nINSERT INTO small VALUES (1);\n",
        }
    )


def wait_for_backup_to_start(directory: Path, proc: subprocess.Popen[str]) -> None:
    """Poll until a file other than the database's own appears beside it (the copy has
    started), or the run ends."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if any(
            not p.name.startswith("app.db-") and p.name != "app.db" for p in directory.iterdir()
        ):
            return
        time.sleep(0.0005)


def assert_complete_backup_or_none(backup: Path, big: list[tuple[object, ...]]) -> None:
    if not backup.exists():
        return
    integrity_ok(backup)  # a file at the backup's name is always the whole database
    assert recorded(backup) == {1}
    assert query(backup, "SELECT count(*), sum(length(pad)) FROM big") == big


def test_kill_9_during_the_backup_leaves_no_file_at_the_backup_name(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(backup_corpus())
    template = tmp_path / "at-0001.db"
    assert run(template, root, "--target", "1").returncode == 0
    big = query(template, "SELECT count(*), sum(length(pad)) FROM big")
    rng = random.Random(777)
    midway = 0
    for trial in range(14):
        directory = tmp_path / f"trial{trial}"
        directory.mkdir()
        db = Path(shutil.copy(template, directory / "app.db"))
        backup = directory / "app.db.bak"
        proc = launch(db, root, "--backup", str(backup))
        wait_for_backup_to_start(directory, proc)
        time.sleep(0.0 if trial % 3 == 0 else rng.uniform(0.0, 0.05))
        kill(proc)
        partial = [p for p in directory.iterdir() if p.name.endswith(".partial")]
        midway += bool(partial) and not backup.exists()
        assert_complete_backup_or_none(backup, big)
        integrity_ok(db)
        assert recorded(db) in ({1}, {1, 2})
        assert ("small" in names(db)) == (2 in recorded(db))
        if 2 not in recorded(db):
            assert query(db, "SELECT count(*), sum(length(pad)) FROM big") == big
        again = directory / "app.db.bak2"
        rerun = run(db, root, "--backup", str(again))
        assert rerun.returncode == 0, (trial, rerun.stderr)
        assert recorded(db) == {1, 2} and query(db, "SELECT x FROM small") == [(1,)]
        if again.exists():  # none is taken when the killed run had already finished
            assert_complete_backup_or_none(again, big)
    assert midway >= 1  # some kills really fell inside the copy


# --- rollback -------------------------------------------------------------------------------

COPIES = 6


def rollback_corpus() -> dict[str, str | bytes]:
    spec: dict[str, str | bytes] = {
        "schema/0001_items.sql": (
            "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT);\n"
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)\n"
            "INSERT INTO items (id) SELECT i FROM n;\n"
        ),
        "rollback/0001_rollback.sql": "DROP TABLE items;\n",
    }
    for n in range(2, COPIES + 2):
        spec[f"schema/{n:04d}_copy{n}.sql"] = (
            f"CREATE TABLE copy{n} (id INTEGER);\nINSERT INTO copy{n} SELECT id FROM items;\n"
        )
        spec[f"rollback/{n:04d}_rollback.sql"] = f"DROP TABLE copy{n};\n"
    last = COPIES + 2
    spec[f"data/{last:04d}_label.sql"] = "UPDATE items SET label = 'L' || id;\n"
    spec[f"rollback/{last:04d}_rollback.sql"] = "UPDATE items SET label = NULL;\n"
    return tree(spec)


def assert_rolled_back_all_or_nothing(db: Path) -> None:
    integrity_ok(db)
    done = recorded(db)
    assert done == set(range(1, len(done) + 1)), done  # rolled back from the newest down
    present = names(db)
    assert ("items" in present) == (1 in done)
    for n in range(2, COPIES + 2):
        assert (f"copy{n}" in present) == (n in done), n
    if 1 in done:
        labelled = query(db, "SELECT count(*) FROM items WHERE label IS NOT NULL")
        assert labelled == [(20000 if COPIES + 2 in done else 0,)]


def test_kill_9_during_a_rollback_leaves_each_step_done_or_not_and_a_rerun_completes(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(rollback_corpus())
    template = tmp_path / "at-head.db"
    assert run(template, root, "--no-backup").returncode == 0
    calibrate = tmp_path / "calibrate.db"
    shutil.copy(template, calibrate)
    duration = timed(calibrate, root, "--rollback", "1", "--no-backup")
    rng = random.Random(31337)
    partway = 0
    # at least 14 trials; more (up to 40) until a kill falls between two steps: where the
    # steps sit in the run moves with start-up cost and machine load (a fixed 14 missed once)
    for trial in range(40):
        if trial >= 14 and partway:
            break
        db = tmp_path / f"trial{trial}.db"
        shutil.copy(template, db)
        proc = launch(db, root, "--rollback", "1", "--no-backup")
        time.sleep(rng.uniform(0.0, duration))
        kill(proc)
        assert_rolled_back_all_or_nothing(db)
        partway += 0 < len(recorded(db)) < COPIES + 2
        rerun = run(db, root, "--rollback", "1", "--no-backup")
        assert rerun.returncode == 0, (trial, rerun.stderr)
        assert recorded(db) == set()
        assert_rolled_back_all_or_nothing(db)
    assert partway >= 1  # some kills fell between the steps of a rollback
