"""Runaway migrations: a statement that never ends, a `@batch` that never runs out of rows.

The checks stop a migration that runs longer than `--statement-timeout` (default 300 s) with its
own finding, MG311, naming the file and the line of the statement; the runner does the same
with the option (off by default) and rolls the migration back. A `@batch` whose WHERE keeps
matching rows it already changed stops with MG311 too. Every check runs as a real process with a
subprocess timeout as a safety net: before the fix each of these hung forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, WriteTree, dump, query, run_on_tree

SAFETY_NET = 120  # seconds; the runs below take about one second each
NEVER_ENDS = (
    "CREATE TABLE t (x);\n"
    "-- counts the rows of an endless recursive CTE\n"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\n"
)
BASE = {
    "m/schema/0001_base.sql": "CREATE TABLE base (id INTEGER PRIMARY KEY, x INTEGER);\n",
    "m/rollback/0001_rollback.sql": "DROP TABLE base;\n",
}
# changes the same two rows again and again: `x = x + 1` never makes the WHERE false
RUNAWAY_BATCH = (
    "-- @batch 2\nUPDATE base SET x = x + 1 WHERE id IN (SELECT id FROM base LIMIT :batch_size);\n"
)


def run(module: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_on_tree(module, root, *args, migrations="m", cwd=REPO, timeout=SAFETY_NET)


def test_apply_empty_stops_a_statement_that_never_ends(write_tree: WriteTree) -> None:
    root = write_tree(BASE | {"m/schema/0002_forever.sql": NEVER_ENDS})
    done = run("ci.apply_empty", root, "--statement-timeout", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_forever.sql:3: MG311 " in done.stdout
    assert "--statement-timeout 1 s" in done.stdout


def test_the_time_limit_is_a_config_key(write_tree: WriteTree) -> None:
    root = write_tree(
        BASE
        | {
            "m/schema/0002_forever.sql": NEVER_ENDS,
            "migration-guard.yaml": "statement_timeout: 1\n",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "ci.apply_empty", "--migrations-dir", "m"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=SAFETY_NET,
        check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_forever.sql:3: MG311 " in done.stdout


def test_apply_sample_stops_a_statement_that_never_ends(write_tree: WriteTree) -> None:
    root = write_tree(
        BASE
        | {
            "m/schema/0002_forever.sql": NEVER_ENDS,
            "sample.sql": "-- @sample-version 1\nINSERT INTO base (x) VALUES (1), (2);\n",
        }
    )
    done = run(
        "ci.apply_sample", root, "--sample", str(root / "sample.sql"), "--statement-timeout", "1"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_forever.sql:3: MG311 " in done.stdout


def test_rollback_roundtrip_stops_a_rollback_that_never_ends(write_tree: WriteTree) -> None:
    root = write_tree(
        BASE
        | {
            "m/schema/0002_t.sql": "CREATE TABLE t (x);\n",
            "m/rollback/0002_rollback.sql": "DROP TABLE t;\n" + NEVER_ENDS.split("\n", 1)[1],
        }
    )
    done = run("ci.rollback_roundtrip", root, "--jobs", "1", "--statement-timeout", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_rollback.sql:3: MG311 " in done.stdout


def test_the_runner_stops_and_rolls_back_with_the_option(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(BASE | {"m/schema/0002_forever.sql": NEVER_ENDS})
    db = tmp_path / "app.db"
    assert run("ci.migrate", root, "--db", str(db), "--target", "1").returncode == 0
    before = dump(db)
    done = run("ci.migrate", root, "--db", str(db), "--statement-timeout", "1", "--no-backup")
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("migrate: ")]
    assert len(errors) == 1 and "0002_forever.sql:3: " in errors[0], done.stderr
    assert "--statement-timeout 1 s" in errors[0]
    assert dump(db) == before


def test_a_runaway_batch_stops_with_a_finding_in_the_checks(write_tree: WriteTree) -> None:
    fill = "INSERT INTO base (x) VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10);\n"
    root = write_tree(
        BASE
        | {
            "m/data/0002_fill.sql": fill,
            "m/data/0003_forever.sql": RUNAWAY_BATCH,
        }
    )
    done = run("ci.apply_empty", root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0003_forever.sql:2: MG311 " in done.stdout
    assert "@batch" in done.stdout


def test_a_runaway_batch_stops_the_runner_and_leaves_it_dirty(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        BASE
        | {
            "m/data/0002_fill.sql": "INSERT INTO base (x) VALUES (1), (2), (3), (4), (5);\n",
            "m/data/0003_forever.sql": RUNAWAY_BATCH,
        }
    )
    db = tmp_path / "app.db"
    done = run("ci.migrate", root, "--db", str(db))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0003_forever.sql:2: " in done.stderr and "@batch" in done.stderr
    assert query(db, "SELECT version FROM schema_version ORDER BY version") == [(1,), (2,)]
    status = run("ci.migrate", root, "--db", str(db), "--status")
    assert "DIRTY: database is dirty: 0003" in status.stdout


def test_legitimate_long_batches_finish(write_tree: WriteTree, tmp_path: Path) -> None:
    """Many batches are fine as long as each changes rows not changed before: 1,000 one-row
    UPDATE batches, and an INSERT batch that adds more rows than the database had."""
    root = write_tree(
        BASE
        | {
            "m/data/0002_fill.sql": (
                "INSERT INTO base (x) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                "SELECT i + 1 FROM n WHERE i < 1000) SELECT 0 FROM n;\n"
            ),
            "m/data/0003_mark.sql": (
                "-- @batch 1\n"
                "UPDATE base SET x = 1 WHERE id IN "
                "(SELECT id FROM base WHERE x = 0 LIMIT :batch_size);\n"
            ),
            "m/data/0004_grow.sql": (
                "-- @batch 300\n"
                "INSERT INTO base (x) SELECT 2 FROM base WHERE x = 1 AND "
                "(SELECT count(*) FROM base WHERE x = 2) < 2500 LIMIT :batch_size;\n"
            ),
        }
    )
    db = tmp_path / "app.db"
    done = run("ci.migrate", root, "--db", str(db))
    assert done.returncode == 0, done.stdout + done.stderr
    assert query(db, "SELECT x, count(*) FROM base GROUP BY x") == [(1, 1000), (2, 2700)]
    assert run("ci.apply_empty", root).returncode == 0


def test_no_time_limit_is_the_runners_default() -> None:
    """A production migration may legitimately take long: the runner has no limit unless
    asked (the option's default), while the checks default to 300 s."""
    from ci.app.parsers import parser_of
    from ci.checks.apply_empty import CHECK
    from ci.migrate import build_parser as migrate_parser

    assert migrate_parser().parse_args(["--db", "x"]).statement_timeout is None
    assert parser_of(CHECK).parse_args([]).statement_timeout == 300.0


@pytest.mark.parametrize("timeout", [("--statement-timeout", "600"), ()], ids=["timeout", "none"])
def test_ctrl_c_during_a_long_statement_is_an_interrupt_not_a_runaway(
    write_tree: WriteTree, tmp_path: Path, timeout: tuple[str, ...]
) -> None:
    """The progress handler makes Ctrl-C reach a running statement (SQLite reports it as
    'interrupted'); that is the user's interrupt, exit 130, not a migration past its limit.
    Without a timeout too: the handler is installed regardless, so the statement stops."""
    root = write_tree(BASE | {"m/schema/0002_forever.sql": NEVER_ENDS})
    db = tmp_path / "app.db"
    args = ["--migrations-dir", str(root / "m"), "--db", str(db), *timeout]
    process = subprocess.Popen(
        [sys.executable, "-m", "ci.migrate", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # a shell's background job starts with SIGINT ignored, and Python then never installs
        # its Ctrl-C handler: give the run the disposition a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        assert "2 to apply" in process.stdout.readline()  # printed just before migrating
        time.sleep(0.5)  # into the endless statement (an earlier signal also exits 130)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=SAFETY_NET)
    finally:
        process.kill()
    assert process.returncode == 130, out + err
    assert "migrate: interrupted" in err and "statement-timeout" not in err


ENDLESS_QUERY = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)"


def test_a_sample_fixture_that_never_ends_is_stopped(write_tree: WriteTree) -> None:
    """The --statement-timeout covers every piece of the user's SQL a check runs: the sample
    fixture too (apply_sample and rollback_roundtrip --sample load it)."""
    root = write_tree(
        BASE
        | {
            "sample.sql": (
                "-- @sample-version 1\nINSERT INTO base VALUES (1, 1);\n"
                f"{ENDLESS_QUERY} SELECT count(*) FROM c;\n"
            )
        }
    )
    for module in ("ci.apply_sample", "ci.rollback_roundtrip"):
        done = run(module, root, "--sample", str(root / "sample.sql"), "--statement-timeout", "2")
        assert done.returncode == 1, module + done.stdout + done.stderr
        assert "sample.sql:3: MG311 " in done.stdout, module + done.stdout


def test_an_invariant_that_never_ends_is_stopped(write_tree: WriteTree) -> None:
    root = write_tree(
        BASE
        | {
            "inv.sql": (
                "-- invariant: fine\nSELECT id FROM base WHERE x < 0;\n"
                f"-- invariant: never\n{ENDLESS_QUERY} SELECT n FROM c WHERE n < 0;\n"
            )
        }
    )
    done = run(
        "ci.apply_empty", root, "--invariants", str(root / "inv.sql"), "--statement-timeout", "2"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "inv.sql:4: MG311 " in done.stdout and "never" in done.stdout


def test_a_progress_query_that_never_ends_is_stopped(write_tree: WriteTree) -> None:
    progress = f"-- @progress {ENDLESS_QUERY} SELECT count(*) FROM c\n"
    root = write_tree(
        BASE | {"m/data/0002_fill.sql": progress + "-- @batch 10\n" + RUNAWAY_BATCH.split("\n")[1]}
    )
    done = run("ci.apply_empty", root, "--statement-timeout", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0002_fill.sql:1: MG311 " in done.stdout
