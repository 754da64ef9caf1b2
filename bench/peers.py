"""Measure migration-guard against the migration tools a user would pick instead, on the same
generated corpus, and write the peers section of bench/RESULTS.md.

    python bench/peers.py --install   # install the peers where the registries have them, then run
    python bench/peers.py --quick     # a smoke run: tiny corpus, one repeat, peers found on PATH

Peers: dbmate (npm `@dbmate/linux-x64`), yoyo (PyPI `yoyo-migrations`, in a venv of its own),
sqitch (Debian `sqitch` + `libdbd-sqlite3-perl`) and golang-migrate (`go install`, sqlite3
driver). Each gets the corpus of bench/corpus.py in its own layout; a peer that is not installed
and cannot be is skipped with one line. The timing (whole processes, alternating runs after one
warm-up, medians, ratios of adjacent pairs) is bench/run.py's.

Only the region between the peers markers of the results file is replaced; the rest of the file
(bench/run.py's) is left as it is.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import corpus
import run as timing
from peer_tools import PEER_CLASSES, Peer, Skip, fresh, migrations_of, same_schema, sync_calls
from run import Command, RunFailed

BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
SYNCS = " syncs per migration, ours / peer |"  # the column, shown where strace is on PATH
ALL_PEERS = tuple(PEER_CLASSES)  # dbmate, yoyo, sqitch, golang-migrate


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Row:
    work: str
    peer: str
    goal: str = "-"
    ours_s: float | None = None
    peer_s: float | None = None
    ratio: float | None = None  # median of the adjacent pairs' ours/peer
    result: str = "-"
    note: str = ""
    syncs: str = "-"  # fsync + fdatasync calls per migration, "ours / peer" (durable rows)


@dataclass
class Bench:
    work: Path
    n: int
    repeats: int
    ours_root: Path = Path()
    group: bool = False  # ci.migrate has --group
    strace: str | None = None  # where found: the durable rows count each side's syncs
    rows: list[Row] = field(default_factory=list)
    syncs: dict[tuple[str, ...], float] = field(default_factory=dict)  # per command line
    skipped: list[str] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)

    def ours(self, *args: str, prepare: Callable[[], None] | None = None) -> Command:
        argv = [timing.PY, "-m", args[0], "--migrations-dir", str(self.ours_root), *args[1:]]
        return Command(argv, cwd=self.work, prepare=prepare)

    def ours_migrate(self, db: Path, *flags: str) -> Command:
        return self.ours("ci.migrate", "--db", str(db), "--no-backup", *flags, prepare=fresh(db))

    def scratch(self, peer: Peer, kind: str) -> Path:
        """A database path in a folder of its own (sqitch keeps its registry beside it)."""
        folder = self.work / peer.name / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{kind}.db"

    def measure(self, peer: Peer) -> None:
        """Durable apply (plain and --group), status, throwaway apply: ours against this peer,
        once the peer has shown that it applies the whole corpus as we do."""
        nice, variants = f"{self.n:,}", peer.durable_variants()
        plain = [Row(f"durable apply, {nice} migrations: `ci.migrate`", v.label) for v in variants]
        grouped = [
            Row(f"durable apply, {nice} migrations: `ci.migrate --group`", v.label, "< 1.00x")
            for v in variants
        ]
        status = Row(f"status, {nice} applied: `ci.migrate --status`", peer.label)
        throwaway = Row(f"apply to a throwaway file, {nice}: `ci.apply_empty`", peer.label)
        if peer.name == "dbmate":
            for row in plain:
                row.goal = "<= 1.10x"
        rows = [*plain, *grouped, status, throwaway]
        self.rows += rows
        try:
            ours_db, peer_db = self.applied(peer)
        except RunFailed as error:
            for row in rows:
                row.result, row.note = "ERROR", str(error)[:300]
            return
        self.durable_rows(variants, plain, grouped)
        self.guarded(status, self.ours_status(ours_db), peer.status(peer_db))
        temp = Path(tempfile.mkdtemp(prefix=f"mg-peer-{peer.name}-"))
        try:  # the peer's apply into a new file in the temp folder, fsynced as it always does
            self.guarded(throwaway, self.ours("ci.apply_empty"), peer.apply(temp / "throwaway.db"))
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def applied(self, peer: Peer) -> tuple[Path, Path]:
        """Our database and the peer's with the corpus applied once, checked to be the same;
        so are ours with --group and every durable variant of the peer."""
        ours_db, peer_db = self.work / "status.db", self.scratch(peer, "status")
        ours_dbs = [(ours_db, ())] + [(self.work / "status-group.db", ("--group",))] * self.group
        for db, flags in ours_dbs:
            if not db.exists():
                self.ours_migrate(db, *flags).run()
        for index, variant in enumerate(peer.durable_variants()):
            db = peer_db if index == 0 else self.scratch(peer, f"check{index}")
            variant.apply(db).run()
            for ours, _ in ours_dbs:
                same_schema(ours, db)
        return ours_db, peer_db

    def ours_status(self, db: Path) -> Command:
        return self.ours("ci.migrate", "--db", str(db), "--status")

    def durable_rows(self, variants: list[Peer], plain: list[Row], grouped: list[Row]) -> None:
        """Ours plain, ours --group (where it exists) and every variant of the peer, rotating
        in one group; then, under strace, each one's syncs."""
        ours = [self.ours_migrate(self.work / "ours.db")]
        if self.group:
            ours.append(self.ours_migrate(self.work / "ours-group.db", "--group"))
        else:
            for row in grouped:
                row.result, row.note = "not available", "`ci.migrate` has no `--group` here"
        theirs = [v.apply(self.scratch(v, f"durable{i}")) for i, v in enumerate(variants)]
        measured = [*plain, *grouped] if self.group else plain
        try:
            samples = timing.measure_group([*ours, *theirs], self.repeats)
            syncs = [self.syncs_per_migration(c) for c in [*ours, *theirs]]
        except RunFailed as error:
            for row in measured:
                row.result, row.note = "ERROR", str(error)[:300]
            return
        mine, peer_samples = samples[: len(ours)], samples[len(ours) :]
        for side, rows in enumerate((plain, grouped)[: len(ours)]):
            for index, row in enumerate(rows):
                self._fill(row, mine[side], peer_samples[index])
                if self.strace:
                    row.syncs = f"{syncs[side]:.2f} / {syncs[len(ours) + index]:.2f}"

    def syncs_per_migration(self, command: Command) -> float:
        """One extra untimed run under strace (ours once per run of the script, not per peer)."""
        if not self.strace:
            return 0.0
        key = tuple(command.argv)
        if key not in self.syncs:
            self.syncs[key] = sync_calls(command, self.strace, self.work / "strace.txt") / self.n
        return self.syncs[key]

    def guarded(self, row: Row, ours: Command, theirs: Command) -> None:
        """Measure ours and the peer as adjacent pairs; a run that fails makes the row ERROR."""
        try:
            self._pair(row, ours, theirs)
        except RunFailed as error:
            row.result, row.note = "ERROR", str(error)[:300]

    def _pair(self, row: Row, ours: Command, theirs: Command) -> None:
        mine, peer_samples = timing.measure_pair(ours, theirs, self.repeats)
        self._fill(row, mine, peer_samples)

    def _fill(self, row: Row, mine: list[timing.Sample], theirs: list[timing.Sample]) -> None:
        row.ours_s, row.peer_s = timing.median(mine), timing.median(theirs)
        row.ratio = timing.paired_ratio(mine, theirs)
        row.note = (
            f"ours [{', '.join(f'{s.seconds:.3f}' for s in mine)}], "
            f"peer [{', '.join(f'{s.seconds:.3f}' for s in theirs)}]; "
            f"ratio of the medians {row.ours_s / row.peer_s:.2f}x"
        )
        if row.goal == "<= 1.10x":
            row.result = "PASS" if row.ratio <= 1.10 else "FAIL"
        elif row.goal == "< 1.00x":
            row.result = "PASS" if row.ratio < 1.0 else "FAIL"

    def judge_throwaway(self) -> None:
        """The throwaway goal is against the fastest peer only: ours >= 4x faster than it."""
        rows = [r for r in self.rows if r.work.startswith("apply to") and r.peer_s is not None]
        if rows:
            fastest = min(rows, key=lambda r: r.peer_s or 0.0)
            fastest.goal = "<= 0.25x (fastest peer)"
            assert fastest.ratio is not None
            fastest.result = "PASS" if fastest.ratio <= 0.25 else "FAIL"


# --- the report ----------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def render(bench: Bench, command: str, load_before: str, elapsed: float) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seeds = corpus.split_counts(bench.n)[1]
    syncs_head = SYNCS if bench.strace else ""
    versions = ", ".join(f"{p.name} {p.version}" for p in bench.peers) or "none"
    lines = [
        "## Against the peers",
        "",
        f"Written on {when} in {elapsed:.0f} s by `{command}`.",
        "Whole processes; ours and the peer as adjacent runs, which goes first alternating,",
        "after one untimed warm-up (the durable rows rotate ours, ours `--group` and the peer,",
        "dbmate at its default and at synchronous=FULL, in one group); medians; ours/peer is the",
        "median of the pairs' ratios, below 1 when we are",
        f"faster. The corpus: {bench.n:,} migrations ({seeds} of them seeds, which every peer",
        "applies as ordinary migrations after the main track), each peer in its own layout: see",
        "[Peers](../docs/benchmarks.md#peers) for what is comparable and what is not. The load",
        "average says how busy this machine, shared with other work, was.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {cpu_model()}, {os.cpu_count()} cores (nproc) |",
        f"| load average before / after (1/5/15 min) | {load_before} ; {load()} |",
        f"| OS, Python, SQLite | {platform.system()} {platform.release()}, "
        f"{platform.python_version()}, {sqlite3.sqlite_version} |",
        f"| peers | {versions} |",
        f"| repeats | {bench.repeats} (after one warm-up) |",
        "",
        f"| work | ours | peer | peer median | ours/peer |{syncs_head} goal | result |",
        "|---|---|---|---|---|---|---|" + "---|" * bool(bench.strace),
    ]
    for row in bench.rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        syncs = f" {row.syncs} |" if bench.strace else ""
        lines.append(
            f"| {row.work} | {_s(row.ours_s)} | {row.peer} | {_s(row.peer_s)} | {ratio} |{syncs} "
            f"{row.goal} | {row.result} |"
        )
    lines += ["", "Notes and every sample (seconds):", ""]
    lines += [f"- skipped: {line}" for line in bench.skipped]
    lines.append(
        f"- {SYNCS.strip(' |')}: fsync and fdatasync calls of one more, untimed run of each"
        " (`strace -f -c -e trace=fsync,fdatasync`, child processes included) / migrations."
        if bench.strace
        else "- syncs per migration: not counted, strace is not on PATH."
    )
    lines.append(f"- {judge_group(bench.rows)}")
    lines += [f"- {p.name} runs as {p.invocation}." for p in bench.peers]
    lines += [f"- {row.work} / {row.peer}: {row.note or '-'}." for row in bench.rows]
    return "\n".join(lines) + "\n"


def judge_group(rows: list[Row]) -> str:
    """The goal of `--group` as one line: faster than every peer (every durable variant)."""
    grouped = [r for r in rows if r.goal == "< 1.00x"]
    if not grouped or any(r.ratio is None for r in grouped):
        return "`ci.migrate --group` faster than every peer: not evaluated (a row has no time)."
    worst = max(grouped, key=lambda r: r.ratio or 0.0)
    verdict = "PASS" if all(r.result == "PASS" for r in grouped) else "FAIL"
    return (
        f"`ci.migrate --group` faster than every peer: {verdict} (closest: {worst.ratio:.2f}x"
        f" against {worst.peer})."
    )


SMOKE = (
    "**A smoke run (`--quick`): a tiny corpus and one repeat, so start-up decides every row; "
    "its PASS and FAIL only show that the script works.**"
)


def write_section(results: Path, section: str) -> None:
    """Replace what is between the markers (or add them at the end); touch nothing else."""
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    block = f"{BEGIN}\n{section}{END}"
    if BEGIN in text and END in text.split(BEGIN, 1)[1]:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        gap = "" if not text else "\n" if text.endswith("\n") else "\n\n"
        text = f"{text}{gap}{block}\n"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text, encoding="utf-8")


def has_group() -> bool:
    done = subprocess.run([timing.PY, "-m", "ci.migrate", "--help"], capture_output=True,
                          text=True, check=False, env=timing.ENV)  # fmt: skip
    return "--group" in done.stdout


def reproduce(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (scratch and results paths left out)."""
    shown = ["python", "bench/peers.py"]
    if args.quick:
        shown.append("--quick")
    shown += [f"--n={args.n}"] if args.n else []
    shown += [f"--repeats={args.repeats}"] if args.repeats else []
    shown += [f"--peers={args.peers}"] if args.peers != ",".join(ALL_PEERS) else []
    shown += ["--install"] if args.install else []
    return shlex.join(shown)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="migrations in the corpus (1000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each (5)")
    parser.add_argument("--peers", default=",".join(ALL_PEERS), help="comma-separated peers")
    parser.add_argument("--install", action="store_true", help="install missing peers first")
    parser.add_argument("--work", type=Path, default=None, help="scratch dir (default: temp)")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="the file whose peers region is replaced (default: bench/RESULTS.md; with --quick, "
        "none: a smoke run prints its section and writes nothing)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny corpus, one repeat (smoke)")
    args = parser.parse_args(argv)
    if args.results is None and not args.quick:
        args.results = timing.REPO / "bench" / "RESULTS.md"
    names = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEER_CLASSES]
    if unknown:
        print(f"bench/peers.py: unknown peer(s) {', '.join(unknown)}; "
              f"choose from {', '.join(ALL_PEERS)}", file=sys.stderr)  # fmt: skip
        return 2
    load_before, started = load(), time.perf_counter()
    work = (args.work or Path(tempfile.mkdtemp(prefix="mg-peers-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    n = args.n or (20 if args.quick else 1000)
    bench = Bench(work, n, args.repeats or (1 if args.quick else 5), group=has_group(),
                  strace=shutil.which("strace"))  # fmt: skip
    try:
        shutil.rmtree(work / "ours", ignore_errors=True)
        written = corpus.write_corpus(work / "ours" / "migrations", n)
        bench.ours_root = written.root
        migrations = migrations_of(written)
        for name in names:
            peer = PEER_CLASSES[name](name, work / "tools")
            try:
                peer.locate(args.install)
            except Skip as why:
                bench.skipped.append(f"{name}: {why}")
                print(f"skipped {name}: {why}", file=sys.stderr)
                continue
            peer.home = work / name / "project"
            shutil.rmtree(work / name, ignore_errors=True)
            peer.home.mkdir(parents=True)
            peer.write_layout(migrations)
            bench.peers.append(peer)
            print(f"measuring {name} {peer.version} ...", file=sys.stderr)
            bench.measure(peer)
        bench.judge_throwaway()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    command = reproduce(args)
    section = render(bench, command, load_before, time.perf_counter() - started)
    if args.quick:  # a reader must not take a smoke run's PASS for a measurement
        section = section.replace("\n\n", f"\n\n{SMOKE}\n\n", 1)
    print(section)
    if args.results is None:
        print("bench/peers.py: a smoke run (--quick): nothing written; --results PATH writes it",
              file=sys.stderr)  # fmt: skip
    else:
        write_section(args.results, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
