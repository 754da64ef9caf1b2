"""`@batch` migrations on PostgreSQL, what only a server shows: a runner killed with SIGKILL
between and inside batches, --statement-timeout per batch, --group and --dry-run around a
@batch, and the checks' throwaway databases running one (apply_empty, apply_sample,
rollback_roundtrip, on both engines). The promises both engines share
(commit per batch, failures, --resume, @progress, the runaway bound) are tested on both in
tests/db/test_batch.py.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.checks.engines import ENGINES, run_check
from tests.checks.engines import write as write_check_tree
from tests.conftest import REPO
from tests.db.postgres.pgrun import migrate, rows, write

pytestmark = pytest.mark.postgresql

ROWS = 200
ITEMS = (
    "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);\n"
    f"INSERT INTO items (id) SELECT g FROM generate_series(1, {ROWS}) g;\n"
)
# each row changed once (n = 1); a row changed twice or a batch counted twice shows
COUNT_ONCE = (
    "-- @batch 5\n"
    "UPDATE items SET n = n + 1\n"
    " WHERE id IN (SELECT id FROM items WHERE n = 0 ORDER BY id LIMIT :batch_size)\n"
    "   AND pg_sleep(0.004) IS NOT NULL;\n"
)


def runner(url: str, migrations: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ci.migrate", "--database-url", url,
         "--migrations-dir", str(migrations), "--busy-timeout", "60", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def mark(url: str) -> list[tuple[Any, ...]]:
    """The dirty marks: (rows done, cleared?)."""
    return rows(url, "SELECT rows_affected, cleared_at IS NOT NULL FROM schema_version_log "
                     "WHERE action = 'dirty' ORDER BY id")  # fmt: skip


def wait_for_rows(url: str, process: subprocess.Popen[str], at_least: int) -> None:
    """Wait until the runner's mark says `at_least` rows are done (committed batches)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if rows(url, "SELECT to_regclass('schema_version_log')") != [(None,)]:
            done = mark(url)
            if done and int(done[0][0]) >= at_least:
                return
        time.sleep(0.005)
    raise AssertionError(f"the runner never reached {at_least} rows")


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_kill_9_inside_a_batch_leaves_the_committed_batches_and_a_mark_the_next_run_names(
    tmp_path: Path, pg_database_url: str, trial: int
) -> None:
    url = pg_database_url
    migrations = write(
        tmp_path, {"schema/0001_items.sql": ITEMS, "data/0002_count.sql": COUNT_ONCE}
    )
    process = runner(url, migrations)
    wait_for_rows(url, process, random.Random(trial).randrange(5, ROWS // 2, 5))
    time.sleep(random.Random(trial).uniform(0.0, 0.02))  # between two batches or inside one
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # the finished batches are committed, and counted in the open mark; none half, none twice
    ((done, cleared),) = mark(url)
    assert not cleared and 0 < done < ROWS and done % 5 == 0
    assert rows(url, "SELECT n, count(*) FROM items GROUP BY n ORDER BY n") == [
        (0, ROWS - done),
        (1, done),
    ]
    assert rows(url, "SELECT version FROM schema_version ORDER BY 1") == [(1,)]
    again = runner(url, migrations)
    _, err = again.communicate(timeout=90)
    assert again.returncode == 1, err
    assert "database is dirty: 0002 count started at" in err
    assert f"({done} rows done)" in err and "Run with --resume to finish it" in err
    resumed = subprocess.run([*again.args, "--resume"], cwd=REPO, capture_output=True,
                             text=True, timeout=90)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming 0002 count ({done} rows done)" in resumed.stdout + resumed.stderr
    assert rows(url, "SELECT n, count(*) FROM items GROUP BY n") == [(1, ROWS)]
    assert rows(url, "SELECT version, rows_affected FROM schema_version ORDER BY 1") == [
        (1, ROWS),
        (2, ROWS),
    ]
    assert mark(url) == [(ROWS, True)]


def test_statement_timeout_limits_each_batch_not_the_whole_migration(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    # six batches of 0.2 s: 1.2 s in all, each well under the 0.8 s limit
    slow = COUNT_ONCE.replace("@batch 5", "@batch 1").replace("0.004", "0.2")
    items = ITEMS.replace(f"1, {ROWS}", "1, 6")
    migrations = write(tmp_path, {"schema/0001_items.sql": items, "data/0002_count.sql": slow})
    code, _, err = migrate(capsys, pg_database_url, migrations, "--statement-timeout", "0.8")
    assert code == 0, err
    assert rows(pg_database_url, "SELECT count(*) FROM items WHERE n = 1") == [(6,)]


def test_a_batch_past_the_statement_timeout_stops_dirty_with_the_batches_before_it(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    stuck = COUNT_ONCE.replace("@batch 5", "@batch 1").replace(
        "pg_sleep(0.004)", "pg_sleep(CASE WHEN id = 3 THEN 30 ELSE 0 END)"
    )
    items = ITEMS.replace(f"1, {ROWS}", "1, 6")
    migrations = write(tmp_path, {"schema/0001_items.sql": items, "data/0002_count.sql": stuck})
    code, out, err = migrate(capsys, pg_database_url, migrations, "--statement-timeout", "0.5")
    assert code == 1, err
    assert "0002_count.sql:2: still running after --statement-timeout 0.5 s" in err
    assert "FAILED: 0002 is a @batch migration; its finished batches (2 rows) stay committed" in out
    assert rows(pg_database_url, "SELECT count(*) FROM items WHERE n = 1") == [(2,)]
    assert mark(pg_database_url) == [(2, False)]


def test_a_batch_ends_a_group_and_runs_on_its_own(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_items.sql": ITEMS,
        "data/0002_count.sql": COUNT_ONCE.replace("pg_sleep(0.004)", "pg_sleep(0)"),
        "schema/0003_notes.sql": "CREATE TABLE notes (id int);\n",
    })  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations, "--group")
    assert code == 0, err
    assert "applied 0002" in out
    assert rows(pg_database_url, "SELECT version FROM schema_version ORDER BY 1") == [
        (1,),
        (2,),
        (3,),
    ]
    assert mark(pg_database_url) == [(ROWS, True)]  # it ran under its mark, not in a group
    assert rows(pg_database_url, "SELECT count(*) FROM items WHERE n = 1") == [(ROWS,)]


def test_the_dry_run_names_a_batch_not_rehearsed_and_changes_nothing(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_items.sql": ITEMS,
        "data/0002_count.sql": COUNT_ONCE,
        "schema/0003_notes.sql": "CREATE TABLE notes (id int);\n",
    })  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations, "--dry-run")
    assert code == 0, err
    assert "would apply 0001" in out
    assert "not rehearsed 0002 data" in out and "@batch (each batch commits on its own" in out
    assert "not rehearsed 0003 schema" in out and "after 0002" in out
    assert rows(pg_database_url, "SELECT to_regclass('items')") == [(None,)]


def test_a_select_around_a_changing_with_is_refused_before_anything_runs(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    # its command tag counts no changed row: the loop would stop after one batch
    hidden = (
        "-- @batch 5\n"
        "WITH done AS (UPDATE items SET n = 1 WHERE id IN (SELECT id FROM items WHERE n = 0\n"
        "  LIMIT :batch_size) RETURNING id) SELECT count(*) FROM done;\n"
    )
    migrations = write(tmp_path, {"schema/0001_items.sql": ITEMS, "data/0002_count.sql": hidden})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code != 0
    assert "0002_count.sql:2: a @batch statement must be an UPDATE, DELETE or INSERT" in err
    assert rows(pg_database_url, "SELECT to_regclass('items')") == [(None,)]


NOTES = {
    "schema/0003_notes.sql": (
        "CREATE TABLE notes (id int PRIMARY KEY, done int NOT NULL DEFAULT 0);\n"
        "INSERT INTO notes (id) VALUES (1), (2), (3), (4), (5);\n"
    ),
    "rollback/0003_rollback.sql": "DROP TABLE notes;\n",
}
FILL = (
    "-- @batch 2\n-- @rewrites notes(done)\n"
    "UPDATE notes SET done = 1 WHERE id IN\n"
    "  (SELECT id FROM notes WHERE done = 0 ORDER BY id LIMIT :batch_size);\n"
)
ENDLESS = (
    "-- @batch 2\n-- @rewrites notes(done)\n"
    "UPDATE notes SET done = done + 1 WHERE id IN (SELECT id FROM notes LIMIT :batch_size);\n"
)
UNDO = "UPDATE notes SET done = 0;\n"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("check", ["ci.apply_empty", "ci.apply_sample", "ci.rollback_roundtrip"])
def test_the_checks_run_a_batch_on_their_throwaway_database(
    tmp_path: Path, engine: str, check: str
) -> None:
    batch = {"data/0004_fill.sql": FILL, "rollback/0004_rollback.sql": UNDO}

    def run(name: str) -> subprocess.CompletedProcess[str]:
        root = write_check_tree(tmp_path / name, engine, NOTES | batch)
        sample = ["--sample", str(root / "sample.sql")] if check == "ci.apply_sample" else []
        return run_check(check, root, engine, *sample)

    done = run("fill")
    assert done.returncode == 0, done.stdout + done.stderr
    batch["data/0004_fill.sql"] = ENDLESS
    stopped = run("endless")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "0004_fill.sql:3: MG311 " in stopped.stdout and "@batch: " in stopped.stdout


def test_batch_size_is_replaced_only_where_the_server_reads_a_parameter() -> None:
    """The same characters in a string, a `$$` body, a quoted name or a comment are data."""
    from ci.db.postgres.batch_file import sized_text

    text = (
        "UPDATE t SET note = ':batch_size' /* :batch_size */, \"x:batch_size\" = 1\n"
        "WHERE id IN (SELECT id FROM t WHERE y = $$:batch_size$$ LIMIT :batch_size); -- :batch_size"
    )
    sized = sized_text(text, 500)
    assert len(sized) == len(text)  # every offset and line stays
    assert sized.count(":batch_size") == text.count(":batch_size") - 1
    assert "LIMIT         500)" in sized
