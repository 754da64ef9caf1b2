"""bench/peers.py --quick end to end with whatever peers this machine has on PATH (it installs
nothing): it exits 0, every peer is either measured or skipped with one line, and only the
marked region of the results file changes (no timing asserted). The syncs column is there
exactly when strace is on PATH, and its count is checked against a process of known syncs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.test_bench_smoke import bench_module
from tests.conftest import REPO

PEERS = ("dbmate", "yoyo", "sqitch", "golang-migrate")
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
HEADER = "| work | ours | peer | peer median | ours/peer | goal | result |"
SYNCS = "| ours/peer | syncs per migration, ours / peer | goal |"
NO_STRACE = "- syncs per migration: not counted, strace is not on PATH."
DURABLE = "durable apply, "
BEFORE = "# Benchmark results\n\nbench/run.py's part, which peers.py must leave alone.\n\n"
AFTER = "\n## A later section\n\nalso left alone\n"


def run_peers(
    tmp_path: Path, *args: str, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / "peers.py"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip


def table_of(lines: list[str]) -> list[list[str]]:
    """The results table's rows, as stripped cells."""
    start = next(i for i, line in enumerate(lines) if line.startswith("| work |")) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def works_of(peer: str) -> list[str]:
    """The rows each peer gets: dbmate's durable rows twice, its default and synchronous=FULL."""
    durable = 2 if peer == "dbmate" else 1
    return [DURABLE] * 2 * durable + ["status, ", "apply to a throwaway file, "]


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
    check_table(lines, measured, strace=shutil.which("strace") is not None)


def check_table(lines: list[str], measured: list[str], *, strace: bool) -> None:
    """Rows per peer in order, their cells, the syncs column exactly when strace is on PATH."""
    header = next(line for line in lines if line.startswith("| work |"))
    assert (SYNCS in header) is strace, header
    assert (NO_STRACE in lines) is not strace
    expected = [(peer, work) for peer in measured for work in works_of(peer)]
    table = table_of(lines)
    assert len(table) == len(expected), table
    for row, (peer, work) in zip(table, expected, strict=True):
        assert row[2].split()[0] == peer and row[0].startswith(work), row
    if "dbmate" in measured:
        assert sum("(synchronous=FULL)" in row[2] for row in table) == 2, table
    for row in table:
        assert len(row) == 7 + strace, row
        assert row[-1] in ("PASS", "FAIL", "-", "not available"), row  # never ERROR
        if row[-1] != "not available":
            assert re.fullmatch(r"\d+\.\d{3} s", row[1]) and re.fullmatch(r"\d+\.\d\dx", row[4])
        if strace:  # a count in the durable rows that were measured, "-" elsewhere
            durable = row[0].startswith(DURABLE) and row[-1] != "not available"
            assert bool(re.fullmatch(r"\d+\.\d\d / \d+\.\d\d", row[5])) is durable, row
        assert any(line.startswith(f"- {row[0]} / {row[2]}: ") for line in lines), row
    verdict = [line for line in lines if line.startswith("- `ci.migrate --group` faster than")]
    assert len(verdict) == 1 and re.search(r": (PASS|FAIL|not evaluated) ", verdict[0]), verdict


def test_without_strace_the_syncs_column_is_left_out_with_one_note(tmp_path: Path) -> None:
    """A PATH holding sqitch and what it runs, but no strace: sqitch is measured, not counted."""
    tools = [shutil.which(name) for name in ("sqitch", "perl", "sqlite3")]
    if not all(tools):
        pytest.skip("sqitch, perl or the sqlite3 CLI is not on PATH")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        assert tool
        (bin_dir / Path(tool).name).symlink_to(tool)
    results = tmp_path / "RESULTS.md"
    done = run_peers(
        tmp_path, "--quick", "--n", "4", "--peers", "sqitch", "--results", str(results),
        path=str(bin_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = results.read_text(encoding="utf-8").splitlines()
    if "- skipped: sqitch: perl's DBD::SQLite is missing (Debian libdbd-sqlite3-perl)" in lines:
        pytest.skip("sqitch has no SQLite driver here")
    assert HEADER in lines
    check_table(lines, ["sqitch"], strace=False)


def test_strace_counts_every_fsync_and_fdatasync_of_a_process_and_its_children(
    tmp_path: Path,
) -> None:
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("strace is not on PATH")
    peer_tools, run = bench_module("peer_tools"), bench_module("run")
    script = (
        "import os, subprocess, sys; f = open('synced', 'w'); os.fsync(f.fileno());"
        " os.fdatasync(f.fileno()); subprocess.run([sys.executable, '-c',"
        " 'import os; os.fsync(os.open(\"synced\", os.O_RDONLY))'], check=True)"
    )
    command = run.Command([sys.executable, "-c", script], cwd=tmp_path)
    try:
        calls = peer_tools.sync_calls(command, strace, tmp_path / "strace.txt")
    except run.RunFailed as error:  # ptrace refused (a container without the capability)
        pytest.skip(f"strace cannot trace here: {error}")
    assert calls == 3


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


def test_a_smoke_run_without_results_leaves_the_committed_figures_alone(tmp_path: Path) -> None:
    """A newcomer ran `bench/peers.py --quick` and found the committed 1,000-migration figures
    replaced by a 20-migration smoke table: a smoke run writes nothing unless asked to."""
    committed = REPO / "bench" / "RESULTS.md"
    before = committed.read_bytes()
    done = run_peers(tmp_path, "--quick", "--n", "4", "--peers", "golang-migrate")
    assert done.returncode == 0, done.stderr
    assert committed.read_bytes() == before
    assert "nothing written" in done.stderr and "## Against the peers" in done.stdout
