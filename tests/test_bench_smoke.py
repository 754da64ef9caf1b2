"""bench/run.py --quick end to end: the RESULTS table has every SPEC 8 row (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

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
    floors = lines[lines.index(floor_header) + 2 :][:2]
    for row, expected in zip(floors, ("`ci.migrate`, ", "`ci.apply_empty`, "), strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(expected), row
        assert all(re.fullmatch(r"\d+\.\d\dx", cell) for cell in cells[2:]), row  # all measured
