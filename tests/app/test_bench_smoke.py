"""bench/run.py --quick end to end: the RESULTS table has every budget row (no timing asserted)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SPEC_ROWS = (
    "`ci.numbering`",
    "`ci.checksums`",
    "`ci.migrate --status`",
    "`ci.migrate`, ",
    "`ci.apply_empty`",
    "`ci.rollback_roundtrip`",
    "`@batch`",
    "JUnit XML",
    "`ci.lint`",
)
HEADER = "| work | median | baseline | baseline median | ratio | budget | peak RSS | result |"


def test_quick_bench_writes_every_spec_row(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--n", "10",
         "--results", str(results), "--work", str(tmp_path / "work")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    text = results.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert HEADER in lines
    table = lines[lines.index(HEADER) + 2 :]
    table = table[: next(i for i, line in enumerate(table) if not line.startswith("|"))]
    assert len(table) == len(SPEC_ROWS)
    for row, expected in zip(table, SPEC_ROWS, strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 8, row
        assert cells[0].startswith(expected), row
        assert cells[-1] in ("PASS", "FAIL"), row  # measured: not ERROR / not available
        assert re.fullmatch(r"\d+\.\d{3} s", cells[1]), row
    for machine in ("| CPU |", "| Python |", "| SQLite (Python module) |", "| SQLite CLI |"):
        assert machine in text
    assert "| work | N=10 |" in text
    assert re.search(r"^\| 2,000 \| \d+\.\d{3} s \| \d+\.\d{3} s \| \d+\.\d\dx \|", text, re.M)
    floor_header = "| work | baseline | floor / baseline | ours / baseline | ours / floor |"
    assert floor_header in lines
    floors = lines[lines.index(floor_header) + 2 :][:4]
    subjects = (
        "`ci.migrate`, ",
        "`ci.apply_empty`, ",
        "`ci.rollback_roundtrip`, ",
        "`ci.rollback_roundtrip --jobs 1`, ",
    )
    for row, expected in zip(floors, subjects, strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(expected), row
        assert all(re.fullmatch(r"\d+\.\d\dx", cell) for cell in cells[2:]), row  # all measured


def run_floor(corpus_root: Path, db: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import corpus
    finally:
        sys.path.remove(str(REPO / "bench"))
    order = corpus_root.parent / "order.txt"
    if not order.exists():
        written = corpus.write_corpus(corpus_root, 12)
        order.write_text("".join(f"{path}\n" for path in written.apply_order), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / "floor.py"), str(order), str(db), *flags],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def schema_and_rows(db: Path) -> tuple[list[tuple[str, str]], int]:
    conn = sqlite3.connect(db)
    try:
        schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        (rows,) = conn.execute("SELECT count(*) FROM schema_version").fetchone()
    finally:
        conn.close()
    return schema, rows


def test_round_trip_floor_runs_every_rollback_and_ends_where_the_plain_floor_does(
    tmp_path: Path,
) -> None:
    root = tmp_path / "corpus" / "migrations"
    plain = run_floor(root, tmp_path / "plain.db")
    round_trip = run_floor(root, tmp_path / "round_trip.db", "--round-trip")
    assert plain.returncode == 0 and round_trip.returncode == 0, plain.stderr + round_trip.stderr
    assert schema_and_rows(tmp_path / "round_trip.db") == schema_and_rows(tmp_path / "plain.db")
    # the rollbacks really run: a broken one stops the round trip, not the plain floor
    broken = sorted((root / "rollback").glob("*.sql"))[-1]
    broken.write_text("SELECT * FROM no_such_table;\n", encoding="utf-8")
    assert run_floor(root, tmp_path / "plain2.db").returncode == 0
    failed = run_floor(root, tmp_path / "round_trip2.db", "--round-trip")
    assert failed.returncode != 0 and "no_such_table" in failed.stderr
