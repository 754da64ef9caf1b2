"""Measure every performance budget (docs/design.md) side by side with its baseline and write
bench/RESULTS.md.

    python bench/run.py              # the full run (about 5-10 minutes on 2 cores)
    python bench/run.py --quick      # a smoke run with tiny sizes (seconds)

Every figure is a whole process started by this script (except the JUnit row, which times the
`write_junit` call inside its process), measured with a monotonic clock around `Popen` + `wait4`,
so the peak RSS is that one child's. Subject and baseline alternate within each repeat, after one
untimed warm-up run of each (bytecode and page cache warm, as on a developer machine). The medians
are compared with the budget; a subject that exits with an unexpected code is an ERROR row, never
a timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path

import corpus

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
SQLITE_CLI = shutil.which("sqlite3") or "/usr/bin/sqlite3"
# Bytecode is written and used, as on a developer machine (a stale .pyc is otherwise ignored
# and every process recompiles what changed); no GitHub variables switch the output format.
ENV = {
    k: v
    for k, v in os.environ.items()
    if k
    not in ("PYTHONDONTWRITEBYTECODE", "GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
}
TIMEOUT = 300.0  # seconds for one process; a run that takes longer is reported as a timeout


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kb: int
    returncode: int
    output: str  # stdout + stderr, for error rows


class RunFailed(Exception):
    """A measured process exited with an unexpected code or timed out."""


def run_process(cmd: Sequence[str], *, cwd: Path, stdin: Path | None = None) -> Sample:
    """Run one process and return its wall time, peak RSS (KiB) and exit code."""
    with tempfile.TemporaryFile() as out:
        source = stdin.open("rb") if stdin else subprocess.DEVNULL
        try:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=cwd, stdin=source, stdout=out, stderr=out, env=ENV)
            deadline = started + TIMEOUT
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    raise RunFailed(f"timed out after {TIMEOUT:.0f} s: {' '.join(cmd)}")
                time.sleep(0.001)
            seconds = time.perf_counter() - started
        finally:
            if stdin:
                source.close()  # type: ignore[union-attr]
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    return Sample(seconds, usage.ru_maxrss, proc.returncode, output)


_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(command: Command) -> int:
    """User-space instructions the process (and any it forks) executes (valgrind's callgrind,
    one run): unlike time, the same on every run whatever else the machine does. Kernel work
    (fsync, file writes) is not counted, so it is a measure of CPU work, not of the budgets'
    time."""
    if command.prepare:
        command.prepare()
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command.argv]
    sample = run_process(argv, cwd=command.cwd, stdin=command.stdin)
    found = _COLLECTED.findall(sample.output)
    if sample.returncode not in command.ok or not found:
        raise RunFailed(f"under callgrind: exit {sample.returncode}: {sample.output[-300:]}")
    # one line per process: the round trip's helper processes (forked, so traced) count too
    return sum(int(count) for count in found)


# Set by --instructions: ratio rows also count both sides' instructions once.
COUNT_INSTRUCTIONS = False


@dataclass
class Command:
    """A process to measure: `prepare` runs before each (untimed), `ok` lists good exit codes."""

    argv: list[str]
    cwd: Path
    stdin: Path | None = None
    prepare: Callable[[], None] | None = None
    ok: tuple[int, ...] = (0,)
    inner_seconds: bool = False  # the process prints its own timing (seconds) on its last line

    def run(self) -> Sample:
        if self.prepare:
            self.prepare()
        sample = run_process(self.argv, cwd=self.cwd, stdin=self.stdin)
        if sample.returncode not in self.ok:
            tail = sample.output.strip().splitlines()[-3:]
            raise RunFailed(f"exit {sample.returncode}: {' | '.join(tail)}")
        if self.inner_seconds:
            last = sample.output.strip().splitlines()[-1]
            sample = Sample(float(last), sample.rss_kb, sample.returncode, sample.output)
        return sample


# Samples by command line, so the growth table reuses what the budget rows measured.
MEASURED: dict[tuple[str, ...], list[Sample]] = {}


def measure_pair(
    subject: Command, baseline: Command | None, repeats: int, *, warm_up: bool = True
) -> tuple[list[Sample], list[Sample]]:
    """Subject and baseline as adjacent pairs (measure_group: which goes first alternates, so
    that neither always runs on a cache the other warmed); the samples are kept in MEASURED."""
    commands = [baseline, subject] if baseline else [subject]
    samples = measure_group(commands, repeats, warm_up=warm_up)
    subjects, baselines = samples[-1], (samples[0] if baseline else [])
    MEASURED[tuple(subject.argv)] = subjects
    if baseline:
        MEASURED[tuple(baseline.argv)] = baselines
    return subjects, baselines


def measure_group(
    commands: Sequence[Command], repeats: int, *, warm_up: bool = True
) -> list[list[Sample]]:
    """After one untimed warm-up of each, every repeat runs each command once, the order
    rotating by one per repeat. Samples per command, in the given order."""
    if warm_up:
        for command in commands:
            command.run()
    samples: list[list[Sample]] = [[] for _ in commands]
    for repeat in range(repeats):
        for offset in range(len(commands)):
            index = (repeat + offset) % len(commands)
            samples[index].append(commands[index].run())
    return samples


def median(samples: Sequence[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def paired_ratio(subjects: Sequence[Sample], baselines: Sequence[Sample]) -> float:
    """The median of subject/baseline over the adjacent pairs: this machine's speed drifts by
    up to 1.6x within a minute (other tenants), and a pair shares the speed of its moment,
    where the ratio of the two medians would compare samples taken at different moments."""
    pairs = zip(subjects, baselines, strict=True)
    return statistics.median(s.seconds / b.seconds for s, b in pairs)


def peak_mb(samples: Sequence[Sample]) -> float:
    return max(s.rss_kb for s in samples) / 1024


# --- rows ----------------------------------------------------------------------------------------


@dataclass
class Row:
    work: str
    baseline: str
    budget: str
    subject_s: float | None = None
    baseline_s: float | None = None
    ratio: float | None = None
    rss_mb: float | None = None
    result: str = "n/a"
    note: str = ""
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    instructions: tuple[int, int] | None = None  # subject, baseline (--instructions)


@dataclass
class FloorRow:
    """How far a budget row's subject is above bench/floor.py, all three measured together."""

    work: str
    baseline: str
    floor_ratio: float | None = None  # floor / baseline
    ours_ratio: float | None = None  # ours / baseline
    above_floor: float | None = None  # ours / floor
    note: str = ""


def available(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def ratio_row(
    row: Row,
    subject: Command,
    baseline: Command,
    repeats: int,
    *,
    limit: float,
    module: str,
) -> Row:
    """Fill `row` with subject/baseline medians and PASS when ratio <= limit."""
    if not available(module):
        row.result, row.note = "not available", f"{module} does not exist yet"
        return row
    try:
        subjects, baselines = measure_pair(subject, baseline, repeats)
    except RunFailed as error:
        row.result, row.note = "ERROR", str(error)
        return row
    row.subject_s, row.baseline_s = median(subjects), median(baselines)
    row.ratio = paired_ratio(subjects, baselines)
    row.rss_mb = peak_mb(subjects)
    row.samples = [s.seconds for s in subjects]
    row.baseline_samples = [s.seconds for s in baselines]
    row.result = "PASS" if row.ratio <= limit else "FAIL"
    row.note = f"ratio of the two medians {row.subject_s / row.baseline_s:.2f}x"
    if COUNT_INSTRUCTIONS and shutil.which("valgrind"):
        try:
            row.instructions = (instructions(subject), instructions(baseline))
        except RunFailed as error:
            row.note += f"; instructions not counted: {error}"
    return row


@dataclass
class Bench:
    work: Path
    n: int
    repeats: int
    heavy_repeats: int
    batch_rows: int
    junit_cases: int
    growth_ns: list[int]
    growth_batch_rows: list[int]
    rows: list[Row] = field(default_factory=list)
    growth: dict[str, dict[int, str]] = field(default_factory=dict)
    batch_growth: list[dict[str, str]] = field(default_factory=list)
    corpora: dict[int, corpus.Corpus] = field(default_factory=dict)
    floors: list[FloorRow] = field(default_factory=list)
    batch_results: dict[int, Row] = field(default_factory=dict)

    # -- corpora and commands ---------------------------------------------------------------------

    def corpus_of(self, n: int) -> corpus.Corpus:
        if n not in self.corpora:
            root = self.work / f"corpus-{n}" / "migrations"
            shutil.rmtree(root.parent, ignore_errors=True)
            self.corpora[n] = corpus.write_corpus(root, n)
            if available("ci.checksums"):
                # the lock file a real project commits, so checksums has something to compare
                run_process(self._ci("checksums", n, "--update"), cwd=self.work)
            per_migration = self.work / f"corpus-{n}" / "one_transaction_per_migration.sql"
            per_migration.write_text(
                "".join(
                    f"BEGIN;\n{p.read_text(encoding='utf-8')}COMMIT;\n"
                    for p in self.corpora[n].apply_order
                ),
                encoding="utf-8",
            )
            order = self.work / f"corpus-{n}" / "apply_order.txt"
            order.write_text("".join(f"{p}\n" for p in self.corpora[n].apply_order))
            single = self.work / f"corpus-{n}" / "one_transaction.sql"
            single.write_text(
                f"BEGIN;\n{self.corpora[n].concatenated_sql()}COMMIT;\n", encoding="utf-8"
            )
        return self.corpora[n]

    def _ci(self, module: str, n: int, *args: str) -> list[str]:
        root = self.work / f"corpus-{n}" / "migrations"
        return [PY, "-m", f"ci.{module}", "--migrations-dir", str(root), *args]

    def _fresh(self, path: Path) -> Callable[[], None]:
        def remove() -> None:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return remove

    def import_sqlite3(self) -> Command:
        return Command([PY, "-c", "import sqlite3"], cwd=self.work)

    def check(
        self, module: str, n: int, *args: str, prepare: Callable[[], None] | None = None
    ) -> Command:
        self.corpus_of(n)
        return Command(self._ci(module, n, *args), cwd=self.work, prepare=prepare)

    def cli_per_migration(self, n: int) -> Command:
        db = self.work / f"corpus-{n}" / "cli.db"
        script = self.work / f"corpus-{n}" / "one_transaction_per_migration.sql"
        self.corpus_of(n)
        return Command(
            [SQLITE_CLI, "-bail", str(db)], cwd=self.work, stdin=script, prepare=self._fresh(db)
        )

    def migrate(self, n: int) -> Command:
        db = self.work / f"corpus-{n}" / "migrate.db"
        return self.check("migrate", n, "--db", str(db), "--no-backup", prepare=self._fresh(db))

    def executescript(self, n: int) -> Command:
        db = self.work / f"corpus-{n}" / "executescript.db"
        script = self.work / f"corpus-{n}" / "one_transaction.sql"
        self.corpus_of(n)
        code = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            " c.executescript(open(sys.argv[2], encoding='utf-8').read()); c.close()"
        )
        return Command(
            [PY, "-c", code, str(db), str(script)], cwd=self.work, prepare=self._fresh(db)
        )

    def floor(self, n: int, flag: str | None = None) -> Command:
        """bench/floor.py: the bare loop any Python runner with a schema_version row per migration
        must run (`--durable`: with durable commits; `--round-trip`: with the round trip's rollback
        and re-apply of each migration)."""
        name = f"floor{flag.replace('--', '-') if flag else ''}.db"
        db = self.work / f"corpus-{n}" / name
        order = self.work / f"corpus-{n}" / "apply_order.txt"
        self.corpus_of(n)
        argv = [PY, str(REPO / "bench" / "floor.py"), str(order), str(db)]
        return Command([*argv, flag] if flag else argv, cwd=self.work, prepare=self._fresh(db))

    def status_db(self, n: int) -> Path:
        db = self.work / f"corpus-{n}" / "status.db"
        if not db.exists():
            done = run_process(
                self._ci("migrate", n, "--db", str(db), "--no-backup"), cwd=self.work
            )
            if done.returncode != 0:
                raise RunFailed(f"could not prepare {db}: {done.output.strip()[-300:]}")
        return db

    # -- budget rows ------------------------------------------------------------------------------

    def run_budgets(self) -> None:
        n, r, heavy = self.n, self.repeats, self.heavy_repeats
        nice = f"{n:,}"
        for module in ("numbering", "checksums"):
            row = Row(
                f"`ci.{module}` on {nice} migrations", '`python -c "import sqlite3"`', "<= 2x"
            )
            self.rows.append(
                ratio_row(
                    row,
                    self.check(module, n),
                    self.import_sqlite3(),
                    r,
                    limit=2.0,
                    module=f"ci.{module}",
                )
            )
        row = Row(f"`ci.migrate --status`, {nice} applied", '`python -c "import sqlite3"`', "<= 3x")
        if available("ci.migrate"):
            try:
                status = self.check("migrate", n, "--db", str(self.status_db(n)), "--status")
            except RunFailed as error:
                row.result, row.note = "ERROR", str(error)
                self.rows.append(row)
            else:
                self.rows.append(
                    ratio_row(row, status, self.import_sqlite3(), r, limit=3.0, module="ci.migrate")
                )
        else:
            row.result, row.note = "not available", "ci.migrate does not exist yet"
            self.rows.append(row)
        row = Row(
            f"`ci.migrate`, {nice} migrations, real file, durable commits",
            "sqlite3 CLI, same SQL, one BEGIN/COMMIT per migration",
            "<= 1.2x",
        )
        self.rows.append(
            ratio_row(
                row,
                self.migrate(n),
                self.cli_per_migration(n),
                heavy,
                limit=1.2,
                module="ci.migrate",
            )
        )
        row = Row(
            f"`ci.apply_empty` on {nice} migrations",
            "Python `executescript`, same SQL, ONE transaction",
            "<= 1.5x",
        )
        apply_row = ratio_row(
            row,
            self.check("apply_empty", n),
            self.executescript(n),
            heavy,
            limit=1.5,
            module="ci.apply_empty",
        )
        self.rows.append(apply_row)
        self.rows.append(self.roundtrip_row(n, apply_row))
        self.rows.append(self.batch_row(self.batch_rows, heavy))
        self.rows.append(self.junit_row(r))
        self.rows.append(self.lint_row(n, r))

    def run_floors(self) -> None:
        """The three budgets that apply migrations, against the floor of any Python runner."""
        n = self.n
        plans = [
            (f"`ci.migrate`, {n:,} migrations, durable", "sqlite3 CLI, one transaction per"
             " migration", self.migrate(n), self.floor(n, "--durable"), self.cli_per_migration(n)),
            (f"`ci.apply_empty`, {n:,} migrations", "`executescript`, ONE transaction",
             self.check("apply_empty", n), self.floor(n), self.executescript(n)),
            (f"`ci.rollback_roundtrip`, {n:,} migrations", "`ci.apply_empty`",
             self.roundtrip(n), self.floor(n, "--round-trip"), self.check("apply_empty", n)),
            (f"`ci.rollback_roundtrip --jobs 1`, {n:,} migrations", "`ci.apply_empty`",
             self.roundtrip(n, "--jobs", "1"), self.floor(n, "--round-trip"),
             self.check("apply_empty", n)),
        ]  # fmt: skip
        for work, baseline_name, ours, floor, baseline in plans:
            row = FloorRow(work, baseline_name)
            self.floors.append(row)
            try:
                mine, floors, baselines = measure_group([ours, floor, baseline], self.heavy_repeats)
            except RunFailed as error:
                row.note = f"ERROR: {error}"
                continue
            row.floor_ratio = paired_ratio(floors, baselines)
            row.ours_ratio = paired_ratio(mine, baselines)
            row.above_floor = paired_ratio(mine, floors)
            row.note = (
                f"medians: ours {median(mine):.3f} s, floor {median(floors):.3f} s, "
                f"baseline {median(baselines):.3f} s"
            )

    def status(self, n: int) -> Command:
        return self.check("migrate", n, "--db", str(self.status_db(n)), "--status")

    def roundtrip(self, n: int, *args: str) -> Command:
        return self.check("rollback_roundtrip", n, *args)

    def roundtrip_row(self, n: int, apply_row: Row) -> Row:
        row = Row(
            f"`ci.rollback_roundtrip` on {n:,} migrations",
            "`ci.apply_empty` on the same corpus",
            "<= 5x",
        )
        if not available("ci.rollback_roundtrip") or not available("ci.apply_empty"):
            row.result, row.note = (
                "not available",
                "ci.rollback_roundtrip or ci.apply_empty missing",
            )
            return row
        subject = self.check("rollback_roundtrip", n)
        baseline = self.check("apply_empty", n)
        return ratio_row(
            row, subject, baseline, self.heavy_repeats, limit=5.0, module="ci.rollback_roundtrip"
        )

    # -- @batch -----------------------------------------------------------------------------------

    def batch_template(self, rows: int) -> tuple[Path, Path]:
        """A database at version 1 of the batch corpus, with `rows` readings to backfill."""
        base = self.work / f"batch-{rows}"
        root, template = base / "migrations", base / "template.db"
        if not template.exists():
            shutil.rmtree(base, ignore_errors=True)
            corpus.write_batch_corpus(root)
            done = run_process(
                [PY, "-m", "ci.migrate", "--db", str(template), "--migrations-dir", str(root),
                 "--target", "1", "--no-backup"],
                cwd=self.work,
            )  # fmt: skip
            if done.returncode != 0:
                raise RunFailed(f"could not prepare {template}: {done.output.strip()[-300:]}")
            corpus.fill_rows(template, rows)
        return root, template

    def batch_commands(self, rows: int) -> tuple[Command, Command]:
        root, template = self.batch_template(rows)
        db = template.parent / "run.db"

        def copy() -> None:
            self._fresh(db)()
            shutil.copyfile(template, db)

        subject = Command(
            [PY, "-m", "ci.migrate", "--db", str(db), "--migrations-dir", str(root), "--no-backup"],
            cwd=self.work,
            prepare=copy,
        )
        code = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
            " c.execute('BEGIN'); c.execute(sys.argv[2]); c.execute('COMMIT'); c.close()"
        )
        baseline = Command(
            [PY, "-c", code, str(db), corpus.UNBATCHED_UPDATE], cwd=self.work, prepare=copy
        )
        return subject, baseline

    def batch_row(self, rows: int, repeats: int) -> Row:
        if rows not in self.batch_results:
            self.batch_results[rows] = self._batch_row(rows, repeats)
        return self.batch_results[rows]

    def _batch_row(self, rows: int, repeats: int) -> Row:
        row = Row(
            f"`@batch` migration over {rows:,} rows (batches of {corpus.BATCH_SIZE:,})",
            "the single unbatched UPDATE, same rows",
            ">= 0.7x throughput; peak RSS < 100 MB",
        )
        if not available("ci.migrate"):
            row.result, row.note = "not available", "ci.migrate does not exist yet"
            return row
        try:
            subject, baseline = self.batch_commands(rows)
            subjects, baselines = measure_pair(subject, baseline, repeats)
        except RunFailed as error:
            row.result, row.note = "ERROR", str(error)
            return row
        row.subject_s, row.baseline_s = median(subjects), median(baselines)
        row.samples = [s.seconds for s in subjects]
        row.baseline_samples = [s.seconds for s in baselines]
        # throughput ratio, rows/s batched over rows/s single: baseline time / subject time
        row.ratio = 1 / paired_ratio(subjects, baselines)
        row.rss_mb = peak_mb(subjects)
        row.result = "PASS" if row.ratio >= 0.7 and row.rss_mb < 100 else "FAIL"
        row.note = (
            f"{rows / row.subject_s:,.0f} rows/s batched vs {rows / row.baseline_s:,.0f} rows/s "
            f"single; unbatched peak RSS {peak_mb(baselines):.0f} MB"
        )
        return row

    # -- JUnit, lint ------------------------------------------------------------------------------

    def junit_row(self, repeats: int) -> Row:
        cases = self.junit_cases
        row = Row(
            f"JUnit XML for {cases:,} test cases (`ci.reports.write_junit`)",
            "none (absolute)",
            "< 0.5 s",
        )
        if not available("ci.reports"):
            row.result = "not available"
            return row
        script = self.work / "junit_bench.py"
        script.write_text(JUNIT_SCRIPT, encoding="utf-8")
        command = Command(
            [PY, str(script), str(cases), str(self.work / "junit.xml")],
            cwd=self.work,
            inner_seconds=True,
        )
        try:
            samples, _ = measure_pair(command, None, repeats)
        except (RunFailed, ValueError) as error:
            row.result, row.note = "ERROR", str(error)
            return row
        row.subject_s = median(samples)
        row.samples = [s.seconds for s in samples]
        row.rss_mb = peak_mb(samples)
        row.result = "PASS" if row.subject_s < 0.5 else "FAIL"
        row.note = "time of the write_junit call (cases built before the clock starts)"
        return row

    def lint_row(self, n: int, repeats: int) -> Row:
        row = Row(
            "`ci.lint` on one changed file, whole process",
            '`python -c "import sqlite3"` (context)',
            "<= 1.5 s",
        )
        if not available("ci.lint"):
            row.result, row.note = "not available", "ci.lint does not exist yet"
            return row
        one = self.corpus_of(n).main[min(1, len(self.corpus_of(n).main) - 1)]
        subject = self.check("lint", n, str(one))
        try:
            samples, baselines = measure_pair(subject, self.import_sqlite3(), repeats)
        except RunFailed as error:
            row.result, row.note = "ERROR", str(error)
            return row
        row.subject_s, row.baseline_s = median(samples), median(baselines)
        row.ratio = row.subject_s / row.baseline_s
        row.samples = [s.seconds for s in samples]
        row.baseline_samples = [s.seconds for s in baselines]
        row.rss_mb = peak_mb(samples)
        row.result = "PASS" if row.subject_s <= 1.5 else "FAIL"
        row.note = f"file: {one.relative_to(self.work)}"
        return row

    # -- growth -----------------------------------------------------------------------------------

    def run_growth(self) -> None:
        plans: list[tuple[str, str, Callable[[int], Command]]] = [
            ("`ci.numbering`", "ci.numbering", lambda n: self.check("numbering", n)),
            ("`ci.checksums`", "ci.checksums", lambda n: self.check("checksums", n)),
            ("`ci.migrate --status`", "ci.migrate", self.status),
            ("`ci.migrate` (durable)", "ci.migrate", self.migrate),
            ("sqlite3 CLI, one transaction per migration", "sqlite3", self.cli_per_migration),
            ("`ci.apply_empty`", "ci.apply_empty", lambda n: self.check("apply_empty", n)),
            ("`executescript`, one transaction", "sqlite3", self.executescript),
            ("`ci.rollback_roundtrip`", "ci.rollback_roundtrip", self.roundtrip),
        ]  # fmt: skip
        for label, module, make in plans:
            cells = self.growth.setdefault(label, {})
            for n in self.growth_ns:
                if not available(module):
                    cells[n] = "not available"
                    continue
                try:
                    command = make(n)
                    samples = MEASURED.get(tuple(command.argv), [])
                    if not samples:  # the largest N: one run, no warm-up (bytecode is warm)
                        big = n > 1000
                        samples, _ = measure_pair(command, None, 1 if big else 3, warm_up=not big)
                except RunFailed as error:
                    cells[n] = f"ERROR ({str(error)[:60]})"
                    continue
                cells[n] = f"{median(samples):.3f} s"
        for rows in self.growth_batch_rows:
            entry = {"rows": f"{rows:,}"}
            if not available("ci.migrate"):
                entry["result"] = "not available"
                self.batch_growth.append(entry)
                continue
            row = self.batch_row(rows, 1 if rows >= 1_000_000 else 3)
            entry.update(
                batched=_seconds(row.subject_s),
                single=_seconds(row.baseline_s),
                ratio=_ratio(row.ratio),
                rss=_mb(row.rss_mb),
                result=row.result,
            )
            self.batch_growth.append(entry)


JUNIT_SCRIPT = '''\
"""Time ci.reports.write_junit on N cases (half passing, a quarter failing, a quarter skipped)."""
import sys, time
from pathlib import Path
from ci.core.findings import Case, Finding, Report
from ci.reports import write_junit

n, out = int(sys.argv[1]), Path(sys.argv[2])
cases = []
for i in range(n):
    path = f"schema/migrations/schema/{i:04d}_t_{i}.sql"
    case = Case(name=f"{i:04d}", classname="apply_empty", time=0.001 * (i % 7), path=path, line=1)
    if i % 4 == 1:
        case.findings.append(Finding("apply_empty", "MG301", path, 3 + i % 9,
                                     f"no such table: t_{i} <&> \\"quoted\\"", "create it first"))
    elif i % 4 == 2:
        case.skipped = "irreversible: drops data"
    cases.append(case)
reports = [Report("apply_empty", cases[: n // 2]), Report("rollback_roundtrip", cases[n // 2 :])]
started = time.perf_counter()
write_junit(reports, out)
print(f"{time.perf_counter() - started:.6f}")
'''


# --- RESULTS.md ----------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MB"


def round_trip_jobs() -> str:
    """How many processes the round trip uses here by default ("-" without the package)."""
    try:
        from ci.checks.roundtrip_jobs import default_jobs
    except ImportError:
        return "-"
    return str(default_jobs())


def machine() -> list[tuple[str, str]]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cli = subprocess.run([SQLITE_CLI, "--version"], capture_output=True, text=True, check=False)
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} cores (nproc)"),
        ("`ci.rollback_roundtrip --jobs` default here", round_trip_jobs()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("load average at the end (1/5/15 min)", " / ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("SQLite (Python module)", sqlite3.sqlite_version),
        ("SQLite CLI", " ".join(cli.stdout.split()[:2]) or "not found"),
    ]


def render(bench: Bench, *, quick: bool, elapsed: float) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run.py" + (" --quick" if quick else "")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {when} in {elapsed:.0f} s. Every time is the median of whole-",
        "process runs (subject and baseline as adjacent pairs in one run, which goes first",
        "alternating, after one untimed warm-up). A ratio is the median of the pairs' ratios: the",
        "speed of this shared machine drifts within a minute, and a pair shares its moment (the",
        "ratio of the two medians is in the notes). Peak RSS is the subject process's own",
        "(`wait4` rusage). Regenerate with the command above.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine()),
        f"| N (migrations) | {bench.n:,} ({corpus.split_counts(bench.n)[1]:,} of them seeds) |",
        f"| repeats | {bench.repeats} (light rows), {bench.heavy_repeats} (rows that apply"
        " migrations) |",
        "",
        "## Budgets",
        "",
        "| work | median | baseline | baseline median | ratio | budget | peak RSS | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in bench.rows:
        lines.append(
            f"| {row.work} | {_seconds(row.subject_s)} | {row.baseline} | "
            f"{_seconds(row.baseline_s)} | {_ratio(row.ratio)} | {row.budget} | "
            f"{_mb(row.rss_mb)} | {row.result} |"
        )
    lines += ["", "Notes and every sample (seconds):", ""]
    for row in bench.rows:
        samples = ", ".join(f"{s:.3f}" for s in row.samples) or "-"
        base = ", ".join(f"{s:.3f}" for s in row.baseline_samples) or "-"
        note = f" {row.note}." if row.note else ""
        lines.append(f"- {row.work}: subject [{samples}], baseline [{base}].{note}")
    counted = [row for row in bench.rows if row.instructions]
    if counted:
        lines += [
            "",
            "## CPU work (`--instructions`)",
            "",
            "User-space instructions of one run of each side under valgrind's callgrind: the same",
            "on every run, whatever else the machine does, so a change's effect shows even where",
            "time is noisy. Kernel work (fsync, writes) is not in it: a measure of our CPU work,",
            "not of the budgets, which are time.",
            "",
            "| work | instructions | baseline instructions | ratio |",
            "|---|---|---|---|",
        ]
        for row in counted:
            assert row.instructions is not None
            mine, theirs = row.instructions
            lines.append(f"| {row.work} | {mine:,} | {theirs:,} | {mine / theirs:.2f}x |")
    if bench.floors:
        lines += [
            "",
            "## Against the floor of a Python runner",
            "",
            "`bench/floor.py` is the bare loop any Python runner that keeps a schema_version row",
            "and a transaction per migration must run: read, split, BEGIN IMMEDIATE, the",
            "statements, the row(s), COMMIT; no checks, no error handling, no report. For the",
            "round trip it also runs each rollback (and the row's DELETE) and the re-apply, in",
            "their own transactions, without fingerprints. Ours, the floor and the baseline ran",
            "together (each repeat runs all three, the order rotating); ratios are medians of",
            "each repeat's ratio.",
            "",
            "| work | baseline | floor / baseline | ours / baseline | ours / floor |",
            "|---|---|---|---|---|",
        ]
        for floor in bench.floors:
            lines.append(
                f"| {floor.work} | {floor.baseline} | {_ratio(floor.floor_ratio)} | "
                f"{_ratio(floor.ours_ratio)} | {_ratio(floor.above_floor)} |"
            )
        lines += ["", *(f"- {floor.work}: {floor.note}." for floor in bench.floors)]
    ns = bench.growth_ns
    lines += [
        "",
        "## How cost grows",
        "",
        "Whole-process medians (3 repeats up to 1,000 migrations, or the budget rows' samples;",
        "one run without warm-up above).",
        "",
        "| work | " + " | ".join(f"N={n:,}" for n in ns) + " |",
        "|---|" + "---|" * len(ns),
    ]
    for label, cells in bench.growth.items():
        lines.append(f"| {label} | " + " | ".join(cells.get(n, "-") for n in ns) + " |")
    lines += [
        "",
        "| `@batch` rows | batched (`ci.migrate`) | single UPDATE | throughput ratio | peak RSS"
        " | result |",
        "|---|---|---|---|---|---|",
    ]
    for entry in bench.batch_growth:
        lines.append(
            f"| {entry['rows']} | {entry.get('batched', '-')} | {entry.get('single', '-')} | "
            f"{entry.get('ratio', '-')} | {entry.get('rss', '-')} | {entry.get('result', '-')} |"
        )
    lines += [
        "",
        "## What each row means",
        "",
        "- The corpus (`bench/corpus.py`): N migrations, one seed per 20, the rest a repeating",
        "  pattern of CREATE TABLE (with a foreign key), CREATE INDEX + a trigger, an INSERT data",
        "  migration, ADD COLUMN and an UPDATE data migration; every main-track migration has an",
        "  exact rollback. The checks pass on it (a check that fails shows as ERROR, not a time).",
        "- Static checks and `--status` are compared with the cost of starting Python and",
        "  importing sqlite3: what any Python tool pays before doing work.",
        "- `ci.migrate` writes a real file with durable commits; its baseline feeds the same SQL",
        "  to the sqlite3 CLI with one BEGIN/COMMIT per migration (no bookkeeping rows: the",
        "  runner's `schema_version` and log rows are extra work inside the same transactions).",
        "- `ci.apply_empty` works on a throwaway database; its floor is `executescript` of the",
        "  concatenated SQL in ONE transaction in a fresh process.",
        "- `ci.rollback_roundtrip` runs as a user runs it: `--jobs` at its default, the CPUs it",
        f"  may use, at most 4 (here {round_trip_jobs()}; a run of fewer than 100 round trips uses",
        "  one). The floor table also shows it with `--jobs 1`; the floor is one process.",
        "- `@batch`: a table of readings with `patient_mrn` NULL and a partial index of the",
        "  pending rows; the migration backfills it with `UPDATE ... WHERE id IN (SELECT id ...",
        "  WHERE patient_mrn IS NULL ORDER BY id LIMIT :batch_size)`,",
        "  committing per batch; the baseline runs one UPDATE over all rows in one transaction.",
        "  Ratio = batched throughput / single-statement throughput.",
        "- JUnit: the `write_junit` call alone, timed inside its process, for cases with",
        "  file/line, failures and skips.",
        "- Lint: one generated file through `python -m ci.lint FILE` (sqlfluff included).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke run)")
    parser.add_argument("--n", type=int, default=None, help="migrations in the corpus (1000)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of light rows (5)")
    parser.add_argument("--heavy-repeats", type=int, default=None, help="repeats of heavy rows (5)")
    parser.add_argument("--batch-rows", type=int, default=None, help="rows for @batch (1000000)")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth tables")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each ratio row's instructions under valgrind (deterministic CPU work)",
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--work", type=Path, default=None, help="scratch dir (default: a temp dir)")
    args = parser.parse_args(argv)
    global COUNT_INSTRUCTIONS
    COUNT_INSTRUCTIONS = args.instructions
    quick = args.quick
    work = args.work or Path(tempfile.mkdtemp(prefix="mg-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(
        work=work.resolve(),
        n=args.n or (20 if quick else 1000),
        repeats=args.repeats or (1 if quick else 5),
        heavy_repeats=args.heavy_repeats or (1 if quick else 5),
        batch_rows=args.batch_rows or (2_000 if quick else 1_000_000),
        junit_cases=200 if quick else 10_000,
        growth_ns=[] if args.no_growth else ([10] if quick else [100, 1000, 5000]),
        growth_batch_rows=[] if args.no_growth else ([2_000] if quick else [100_000, 1_000_000]),
    )
    started = time.perf_counter()
    try:
        bench.run_budgets()
        bench.run_floors()
        bench.run_growth()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = render(bench, quick=quick, elapsed=time.perf_counter() - started)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
