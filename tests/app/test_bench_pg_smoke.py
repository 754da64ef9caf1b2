"""bench/pg.py --quick end to end on the real server: every PostgreSQL row, the full page and the
section of RESULTS.md it owns, the SQLite results around it untouched, no database left behind.
Also: the generated PostgreSQL corpus's rollbacks really undo their migrations (catalog and data
fingerprints), and bench/run.py's rewrite keeps the PostgreSQL section. No timing is asserted."""

from __future__ import annotations

import importlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import REPO

ROWS = (
    "`ci.migrate --database-url`",
    "`ci.migrate --database-url`",  # against the bare Python loop (context)
    "`ci.apply_empty --engine postgresql`",
    "`ci.rollback_roundtrip --engine postgresql`",
    "`ci.migrate --status --database-url`",
)
MEASURED = ("PASS", "PASS (tight)", "FAIL")
SQLITE_PART = (
    "# Benchmark results\n\nthe SQLite run's figures\n\n"
    "<!-- peers:begin -->\n## Peers\n\n| peer | x |\n|---|---|\n<!-- peers:end -->\n"
)
STALE = "<!-- postgresql:begin -->\n## PostgreSQL\n\nstale figures\n<!-- postgresql:end -->"


def bench_module(name: str) -> Any:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "bench"))


def run_pg_bench(tmp_path: Path, server: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / "pg.py"), "--quick", "--n", "10",
         "--server-url", server, "--results", str(tmp_path / "RESULTS-postgresql.md"),
         "--summary", str(tmp_path / "RESULTS.md"), *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def bench_databases(server: str) -> list[str]:
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'mgbench\\_%'")
        return sorted(name for (name,) in rows)


def dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def table(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start)) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_quick_pg_bench_writes_every_row_and_only_its_own_section(
    tmp_path: Path, pg_server_url: str
) -> None:
    summary = tmp_path / "RESULTS.md"
    summary.write_text(f"{SQLITE_PART}\n{STALE}\n", encoding="utf-8")
    leftover = f"mgbench_{dead_pid()}_migrate"  # what a killed bench leaves
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(leftover)))
    done = run_pg_bench(tmp_path, pg_server_url)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    dropped = [line for line in done.stderr.splitlines() if "did not finish: " in line]
    assert len(dropped) == 1 and leftover in dropped[0].split(": ")[-1].split(", "), done.stderr
    full = (tmp_path / "RESULTS-postgresql.md").read_text(encoding="utf-8")
    ours = re.search(r"mgbench_\d+_", full)  # the run's databases, named in its commands
    assert ours, full
    left = [name for name in bench_databases(pg_server_url) if name.startswith(ours[0])]
    assert left == [] and leftover not in bench_databases(pg_server_url)
    assert re.search(r"^\| PostgreSQL server \| PostgreSQL \d+", full, re.M), full
    assert "| server settings | fsync = " in full and "| psql | psql (PostgreSQL)" in full
    rows = table(full, "| work | median |")
    assert [row[0].split(",")[0].split(" on ")[0] for row in rows] == list(ROWS)
    for row in (rows[0], rows[4]):  # the runner's rows always measure
        assert row[-1] in MEASURED, row
        assert re.fullmatch(r"\d+\.\d{3} s", row[1]) and re.fullmatch(r"\d+\.\d{3} s", row[6])
        assert re.fullmatch(r"\d+\.\d\dx", row[7]), row  # ours / floor
    assert rows[1][-1] == "context" and re.fullmatch(r"\d+\.\d\dx", rows[1][4]), rows[1]
    for row in rows[2:4]:  # the checks: measured, or the one line they printed
        assert row[-1] in (*MEASURED, "not measured"), row
        if row[-1] == "not measured":
            note = next(line for line in full.splitlines() if line.startswith(f"- {row[0]}:"))
            assert re.search(r"\. exit \d+: \S", note) and "the options:" not in note, note
    for row, mode in ((rows[2], "--check"), (rows[3], "--round-trip")):  # the checks' floors
        assert row[-1] in MEASURED and row[5].startswith(f"`pg_floor.py {mode}`"), row
        assert re.fullmatch(r"\d+\.\d{3} s", row[6]), row
        assert re.fullmatch(r"\d+\.\d\dx", row[7]) and re.fullmatch(r"\d+\.\d\dx", row[8]), row
    floors = table(full, "| work | floor | baseline | floor / baseline |")
    assert [row[0] for row in floors] == [rows[i][0] for i in (0, 2, 3, 4)]
    for row in floors:  # floor / baseline, ours / baseline, ours / floor
        assert all(re.fullmatch(r"\d+\.\d\dx", cell) for cell in row[3:]), row
        note = next(line for line in full.splitlines() if line.startswith(f"- {row[0]}: medians"))
        assert re.search(r"ours \d+\.\d{3} s, floor \d+\.\d{3} s, baseline \d+\.\d{3} s", note)
    assert "## Commands" in full and "sh WORK/psql_per_file.sh" in full
    assert "`python bench/pg_floor.py WORK/apply_order.txt postgresql://" in full
    assert "`python bench/pg_floor.py --check WORK/apply_order.txt postgresql://" in full
    assert re.search(r"`python bench/pg_floor.py --round-trip WORK/apply_order.txt \S+ \d`", full)

    text = summary.read_text(encoding="utf-8")
    assert text.startswith(SQLITE_PART)  # the SQLite run's part, byte for byte
    assert text.count("<!-- postgresql:begin -->") == 1 and "stale" not in text
    assert "[RESULTS-postgresql.md](RESULTS-postgresql.md)" in text
    short = table(text, "| work | median | baseline | ours / baseline | ours / floor | floor /")
    assert len(short) == len(ROWS)
    assert all(re.fullmatch(r"\d+\.\d\dx", short[i][5]) for i in (0, 2, 3, 4)), short


def test_a_broken_section_marker_stops_the_bench_before_it_measures(tmp_path: Path) -> None:
    broken = f"{SQLITE_PART}\n{STALE.replace('<!-- postgresql:end -->', '')}\n"
    (tmp_path / "RESULTS.md").write_text(broken, encoding="utf-8")
    done = run_pg_bench(tmp_path, "postgresql://nobody@127.0.0.1:1/none")  # never reached
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "<!-- postgresql:begin -->" in done.stderr
    assert (tmp_path / "RESULTS.md").read_text(encoding="utf-8") == broken
    assert not (tmp_path / "RESULTS-postgresql.md").exists()


def test_the_sqlite_rewrite_keeps_the_postgresql_section(tmp_path: Path) -> None:
    results, run = bench_module("results"), bench_module("run")
    machine = bench_module("machine")
    path = tmp_path / "RESULTS.md"
    path.write_text(f"{SQLITE_PART}\n{STALE}\n", encoding="utf-8")
    bench = run.Bench(tmp_path, 10, 1, 1, 10, 10, [], [])
    quiet = machine.Snapshot((0.0, 0.0, 0.0), [])
    text = results.render(
        bench, command="python bench/run.py", elapsed=1.0, snapshots=(quiet, quiet),
        sqlite_cli="sqlite3", regions=results.kept_regions(path),
    )  # fmt: skip
    assert text.count(STALE) == 1 and text.index("<!-- peers:end -->") < text.index(STALE)


def test_every_rollback_of_the_pg_corpus_undoes_its_migration(
    tmp_path: Path, pg_database_url: str
) -> None:
    """Apply, roll back, apply again, per main-track migration: the catalog and the rows after
    the rollback are those before the migration, and a second apply ends where the first did."""
    from ci.db.postgres.fingerprint import describe_differences, fingerprint

    corpus = bench_module("pg_corpus").write_corpus(tmp_path / "migrations", 13)
    assert len(corpus.main) == 12 and len(corpus.seeds) == 1  # every shape twice, a FK between
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        for migration, rollback in zip(corpus.main, corpus.rollbacks, strict=True):
            before = fingerprint(conn)
            conn.execute(migration.read_text(encoding="utf-8").encode())
            after = fingerprint(conn)
            assert after != before, migration.name  # it did something
            conn.execute(rollback.read_text(encoding="utf-8").encode())
            undone = fingerprint(conn)
            assert undone == before, describe_differences(before, undone)
            conn.execute(migration.read_text(encoding="utf-8").encode())
            assert fingerprint(conn) == after, migration.name
        seed = corpus.seeds[0].read_text(encoding="utf-8").encode()
        conn.execute(seed)
        conn.execute(seed)  # idempotent
        assert conn.execute("SELECT count(*) FROM settings").fetchone() == (1,)
        triggered = "UPDATE t_00000 SET qty = -1 WHERE id = 1"
        with pytest.raises(psycopg.errors.RaiseException, match="must not be negative; fix"):
            conn.execute(triggered.encode())  # the $$ body, whole


def test_a_failed_commands_line_is_its_message_not_the_hint_under_it() -> None:
    last_line = bench_module("pg").last_line
    usage = "usage: x\nx: error: unrecognized arguments: --engine\n  (the options: x --help)\n"
    assert last_line(usage) == "x: error: unrecognized arguments: --engine"
    assert last_line("") == "(no output)"


def test_a_bench_stopped_with_sigterm_drops_its_databases(
    tmp_path: Path, pg_server_url: str
) -> None:
    bench = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "pg.py"), "--quick", "--n", "200",
         "--server-url", pg_server_url, "--results", str(tmp_path / "full.md"),
         "--summary", str(tmp_path / "summary.md")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    ours = f"mgbench_{bench.pid}_"
    try:
        deadline = time.monotonic() + 60
        while not any(name.startswith(ours) for name in bench_databases(pg_server_url)):
            assert bench.poll() is None and time.monotonic() < deadline, "made no database"
            time.sleep(0.1)
        bench.send_signal(signal.SIGTERM)
        _, err = bench.communicate(timeout=60)
    finally:
        bench.kill()
    assert bench.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert not [name for name in bench_databases(pg_server_url) if name.startswith(ours)]
    assert not (tmp_path / "full.md").exists()  # a stopped run writes no results


def test_the_python_floor_applies_every_file_with_its_row(
    tmp_path: Path, pg_database_url: str
) -> None:
    corpus = bench_module("pg_corpus").write_corpus(tmp_path / "migrations", 13)
    order = tmp_path / "order.txt"
    order.write_text("".join(f"{path}\n" for path in corpus.apply_order), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pg_floor.py"), str(order), pg_database_url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout == "13 migrations applied\n", done.stderr
    with psycopg.connect(pg_database_url) as conn:
        kinds = conn.execute(
            "SELECT migration_type, count(*) FROM schema_version GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert kinds == [("data", 4), ("schema", 8), ("seed", 1)]
        assert conn.execute("SELECT sum(qty) FROM t_00001").fetchone() == (153,)
