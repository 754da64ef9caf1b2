"""bench/peers.py --quick end to end with whatever peers this machine has on PATH (it installs
nothing): it exits 0, every peer is either measured or skipped with one line, and only the
marked region of the results file changes (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PEERS = ("dbmate", "yoyo", "sqitch", "golang-migrate")
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
HEADER = "| work | ours | peer | peer median | ours/peer | goal | result |"
WORKS = ("durable apply, ", "durable apply, ", "status, ", "apply to a throwaway file, ")
BEFORE = "# Benchmark results\n\nbench/run.py's part, which peers.py must leave alone.\n\n"
AFTER = "\n## A later section\n\nalso left alone\n"


def run_peers(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / "peers.py"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_quick_run_replaces_only_the_peers_region(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"{BEFORE}{BEGIN}\nan old peers table\n{END}{AFTER}", encoding="utf-8")
    done = run_peers(
        tmp_path, "--quick", "--n", "8", "--results", str(results), "--work", str(tmp_path / "w")
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    text = results.read_text(encoding="utf-8")
    assert text.startswith(BEFORE + BEGIN + "\n") and text.endswith(END + AFTER)
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    section = text[len(BEFORE) + len(BEGIN) : -len(END + AFTER)]
    assert "an old peers table" not in section
    lines = section.splitlines()
    assert "`python bench/peers.py --quick --n=8`" in section  # the command that reproduces it
    assert re.search(r"^\| CPU \| .+, \d+ cores \(nproc\) \|$", section, re.M)
    assert re.search(
        r"^\| load average before / after .* \| [\d.]+ / .* ; [\d.]+ / ", section, re.M
    )
    (versions,) = [line for line in lines if line.startswith("| peers |")]
    skipped = [line for line in lines if line.startswith("- skipped: ")]
    measured = [p for p in PEERS if f" {p} " in versions.replace(",", " ")]
    for peer in PEERS:  # measured, or skipped with one line: never both, never neither
        lines_for_peer = [line for line in skipped if line.startswith(f"- skipped: {peer}: ")]
        assert (peer in measured) != bool(lines_for_peer), (peer, versions, skipped)
        assert len(lines_for_peer) <= 1
    assert HEADER in lines
    table = lines[lines.index(HEADER) + 2 :]
    table = table[: next(i for i, line in enumerate(table) if not line.startswith("|"))]
    assert len(table) == 4 * len(measured)
    for index, row in enumerate(table):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 7, row
        assert cells[0].startswith(WORKS[index % 4]), row
        assert cells[2].split()[0] == measured[index // 4], row
        assert cells[-1] in ("PASS", "FAIL", "-", "not available"), row  # never ERROR
        if cells[-1] != "not available":
            assert re.fullmatch(r"\d+\.\d{3} s", cells[1]) and re.fullmatch(r"\d+\.\d\dx", cells[4])
    for row in table:  # every measured row has its samples in the notes
        work, peer = (c.strip() for c in row.strip("|").split("|")[:3:2])
        assert any(line.startswith(f"- {work} / {peer}: ") for line in lines), row


def test_a_results_file_without_markers_gets_the_section_at_its_end(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(BEFORE, encoding="utf-8")
    done = run_peers(
        tmp_path, "--quick", "--n", "4", "--peers", "golang-migrate", "--results", str(results)
    )
    assert done.returncode == 0, done.stderr
    text = results.read_text(encoding="utf-8")
    assert text.startswith(BEFORE) and text.rstrip("\n").endswith(END)
    assert text.count(BEGIN) == 1


def test_an_unknown_peer_is_one_line_and_exit_2(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    done = run_peers(tmp_path, "--quick", "--peers", "flyway", "--results", str(results))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "flyway" in done.stderr
    assert not results.exists()
