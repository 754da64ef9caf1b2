"""bench/pg_floor.py's floors of the checks on the real server: `--check` applies every migration
with its row on a database of its own and sends its DROP; `--round-trip` rolls back and applies
again each main-track migration, in helper processes cut as ours cuts its run (`--jobs`), and a
failure in any part is its exit code. No timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.checks.pg_engine import POSTGRESQL, discover_for
from ci.checks.roundtrip_jobs import plan
from tests.app.test_bench_pg_smoke import bench_module
from tests.conftest import REPO

FLOOR = REPO / "bench" / "pg_floor.py"


def corpus_with_order(tmp_path: Path, n: int) -> tuple[Any, Path]:
    corpus = bench_module("pg_corpus").write_corpus(tmp_path / "migrations", n)
    order = tmp_path / "order.txt"
    order.write_text("".join(f"{path}\n" for path in corpus.apply_order), encoding="utf-8")
    return corpus, order


def run_floor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FLOOR), *args], capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def exists(server: str, name: str) -> bool:
    with psycopg.connect(server, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def gone(server: str, name: str) -> bool:
    """Whether `name` is dropped within a minute (the floor sends its DROP and does not wait)."""
    deadline = time.monotonic() + 60
    while exists(server, name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_check_floor_applies_each_migration_with_its_row_on_its_own_database(
    tmp_path: Path, pg_server_url: str
) -> None:
    floor = bench_module("pg_floor")
    _, order = corpus_with_order(tmp_path, 13)
    with floor.throwaway(pg_server_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        assert name.startswith("mgbench_") and name.endswith("_floor")
        # as ours' throwaway: commits do not wait for the WAL flush
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
        for path in floor.read_order(str(order)):
            conn.execute(floor.apply_query(path))
        kinds = conn.execute(
            "SELECT migration_type, count(*) FROM schema_version GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert kinds == [("data", 4), ("schema", 8), ("seed", 1)]
        assert conn.execute("SELECT sum(qty) FROM t_00001").fetchone() == (153,)
    assert gone(pg_server_url, name)

    done = run_floor("--check", str(order), pg_server_url)
    assert done.returncode == 0 and done.stdout == "13 migrations applied\n", done.stderr


def test_a_migration_that_fails_fails_the_check_floor_with_no_row(
    tmp_path: Path, pg_server_url: str
) -> None:
    floor = bench_module("pg_floor")
    corpus, order = corpus_with_order(tmp_path, 13)
    corpus.main[2].write_text("CREATE TABLE nowhere (id integer REFERENCES missing);\n")
    with floor.throwaway(pg_server_url) as conn:
        paths = floor.read_order(str(order))
        conn.execute(floor.apply_query(paths[0]))
        conn.execute(floor.apply_query(paths[1]))
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute(floor.apply_query(paths[2]))
        # the migration and its row are one transaction: neither stayed
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (2,)
    assert run_floor("--check", str(order), pg_server_url).returncode == 1


@pytest.mark.parametrize("n", [20, 120, 260, 1000])
@pytest.mark.parametrize("jobs", [1, 2, 3, 4])
def test_the_round_trip_floor_cuts_its_parts_as_ours(tmp_path: Path, n: int, jobs: int) -> None:
    corpus_with_order(tmp_path, n)
    catalog = discover_for(tmp_path / "migrations", POSTGRESQL)
    ours = plan(catalog.main, None, jobs)
    cuts = bench_module("pg_floor").parts(len(catalog.main), jobs)
    assert len(cuts) == len(ours)
    assert cuts[-1][1] == len(catalog.main) and cuts[0][0] == 0
    for (start, end), part in zip(cuts, ours, strict=True):
        shared = part.selected or {m.version for m in catalog.main}
        assert {m.version for m in catalog.main[start:end]} == shared
        assert part.until in (end, None)


def test_the_round_trip_floor_rolls_back_and_applies_again_in_every_part(
    tmp_path: Path, pg_server_url: str
) -> None:
    corpus, order = corpus_with_order(tmp_path, 130)
    floor = bench_module("pg_floor")
    first, second = floor.parts(len(corpus.main), 2)
    assert second[0] > first[0]  # two parts: the second runs in a forked helper
    done = run_floor("--round-trip", str(order), pg_server_url, "2")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    # a rollback that leaves its table behind: applying the migration again fails
    creates = [i for i, path in enumerate(corpus.main) if "create_t_" in path.name]
    late = next(i for i in creates if i >= second[0])
    corpus.rollbacks[late].write_text("SELECT 1;\n", encoding="utf-8")
    done = run_floor("--round-trip", str(order), pg_server_url, "2")
    assert done.returncode == 1 and "1 of 1 helper processes failed" in done.stderr, done.stderr
    assert "already exists" in done.stderr
    done = run_floor("--round-trip", str(order), pg_server_url, "1")  # the same, in one process
    assert done.returncode == 1 and "already exists" in done.stderr
    assert no_floor_left(pg_server_url)  # every part dropped its database, failed or not


def no_floor_left(server: str) -> bool:
    """Whether, within a minute, no floor database of a process that has ended is left (a
    running bench's, on this shared server, are its own)."""
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(server, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname ~ '^mgbench_[0-9]+_floor$'"
            ).fetchall()
        left = [name for (name,) in rows if not running(int(name.split("_")[1]))]
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
