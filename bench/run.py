"""Measure every performance budget (docs/design.md) side by side with its baseline and its floor
(bench/floor.py doing the same job) and write bench/RESULTS.md.

    python bench/run.py              # the full run (about 15 minutes on 2 cores)
    python bench/run.py --quick      # a smoke run with tiny sizes (seconds)

Every figure is a whole process started by this script (except the JUnit row, which times the
`write_junit` call inside its process), measured with a monotonic clock around `Popen` + `wait4`,
so the peak RSS is that one child's. Subject, baseline and floor run in one rotation (each repeat
runs each once, the order rotating), after one untimed warm-up run of each (bytecode and page
cache warm, as on a developer machine). The medians are compared with the budget; a subject that
exits with an unexpected code is an ERROR row, never a timing. The machine and its load are
recorded before and after (bench/machine.py); the file is written by bench/results.py, which
keeps the regions other hands own.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import corpus
import machine
import results
from results import _mb, _ratio, _seconds
from rows import ON_FLOOR, ON_SECONDS, ON_THROUGHPUT, FloorRow, Row

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
# bench/floor.py imported rather than run as a script: a script is compiled on every start,
# while ours start from cached bytecode (the difference is ~9 ms of a 50 ms start-up row).
FLOOR = [
    PY,
    "-c",
    f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); import floor;"
    " raise SystemExit(floor.main(sys.argv[1:]))",
]
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
    module: str,
    floor: Command | None = None,
    warm_up: bool = True,
) -> Row:
    """Fill `row` with the medians of subject, baseline and (when given) floor, measured in one
    rotation, their paired ratios, and the verdict against the row's budget. `warm_up=False`
    when the caller has just run each command once already."""
    if not available(module):
        row.result, row.note = "not available", f"{module} does not exist yet"
        return row
    commands = [baseline, floor, subject] if floor else [baseline, subject]
    try:
        samples = measure_group(commands, repeats, warm_up=warm_up)
    except RunFailed as error:
        row.result, row.note = "ERROR", str(error)
        return row
    for command, measured in zip(commands, samples, strict=True):
        MEASURED[tuple(command.argv)] = measured
    subjects, baselines = samples[-1], samples[0]
    row.subject_s, row.baseline_s = median(subjects), median(baselines)
    row.ratio = paired_ratio(subjects, baselines)
    row.rss_mb = peak_mb(subjects)
    row.samples = [s.seconds for s in subjects]
    row.baseline_samples = [s.seconds for s in baselines]
    if floor:
        floors = samples[1]
        row.floor_s, row.floor_samples = median(floors), [s.seconds for s in floors]
        row.floor_ratio = paired_ratio(subjects, floors)
        row.floor_over_baseline = paired_ratio(floors, baselines)
    row.judge()
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
        argv = [*FLOOR, str(order), str(db)]
        return Command([*argv, flag] if flag else argv, cwd=self.work, prepare=self._fresh(db))

    def startup_floor(self, n: int, mode: str, *args: Path) -> Command:
        """bench/floor.py's start-up jobs (`--numbering`, `--checksums`, `--status`): the least
        any Python tool doing that job must do."""
        root = self.work / f"corpus-{n}" / "migrations"
        self.corpus_of(n)
        argv = [*FLOOR, mode, str(root), *map(str, args)]
        return Command(argv, cwd=self.work)

    def lock_file(self, n: int) -> Path:
        return self.work / f"corpus-{n}" / "migrations.lock"

    def status_db(self, n: int, name: str = "status.db") -> Path:
        """A database with every migration of the corpus applied (`noop.db` for the no-op
        migrate, so that whatever a run writes there never reaches the status row's file)."""
        db = self.work / f"corpus-{n}" / name
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
        python = '`python -c "import sqlite3"`'
        for module in ("numbering", "checksums"):
            floor_args = (self.lock_file(n),) if module == "checksums" else ()
            row = Row(
                f"`ci.{module}` on {nice} migrations", python, "<= 2x", 2.0,
                floor=f"`floor.py --{module}`",
            )  # fmt: skip
            floor = self.startup_floor(n, f"--{module}", *floor_args)
            subject = self.check(module, n)
            self.rows.append(
                ratio_row(
                    row, subject, self.import_sqlite3(), r, module=f"ci.{module}", floor=floor
                )
            )
        status = Row(f"`ci.migrate --status`, {nice} applied", python, "<= 2x", 2.0)
        self.rows.append(self.startup_row(status, lambda: self.status(n), "status.db"))
        noop = Row(f"`ci.migrate` with nothing pending, {nice} applied", python, "<= 2x", 2.0)
        self.rows.append(self.startup_row(noop, lambda: self.noop_migrate(n), "noop.db"))
        row = Row(
            f"`ci.migrate`, {nice} migrations, real file, durable commits",
            "sqlite3 CLI, same SQL, one BEGIN/COMMIT per migration (context)",
            "<= 1.1x ours / floor", 1.1, ON_FLOOR, floor="`floor.py --durable`",
        )  # fmt: skip
        self.rows.append(
            ratio_row(
                row, self.migrate(n), self.cli_per_migration(n), heavy, module="ci.migrate",
                floor=self.floor(n, "--durable"),
            )
        )  # fmt: skip
        row = Row(
            f"`ci.apply_empty` on {nice} migrations",
            "Python `executescript`, same SQL, ONE transaction",
            "<= 1.5x", 1.5, floor="`floor.py`",
        )  # fmt: skip
        apply_empty = self.check("apply_empty", n)
        self.rows.append(
            ratio_row(
                row, apply_empty, self.executescript(n), heavy, module="ci.apply_empty",
                floor=self.floor(n),
            )
        )  # fmt: skip
        self.rows.append(self.roundtrip_row(n))
        self.rows.append(self.batch_row(self.batch_rows, heavy))
        self.rows.append(self.junit_row(r))
        self.rows.append(self.lint_row(n, r))

    def startup_row(self, row: Row, make: Callable[[], Command], db_name: str) -> Row:
        """A `ci.migrate` start-up row on a database with every migration applied; its floor is
        `floor.py --status` (list the folders, read the table once: all a status or a migrate
        that finds nothing pending must do)."""
        row.floor = "`floor.py --status`"
        if not available("ci.migrate"):
            row.result, row.note = "not available", "ci.migrate does not exist yet"
            return row
        n = self.n
        try:
            subject = make()
            floor = self.startup_floor(n, "--status", self.status_db(n, db_name))
        except RunFailed as error:
            row.result, row.note = "ERROR", str(error)
            return row
        return ratio_row(
            row, subject, self.import_sqlite3(), self.repeats, module="ci.migrate", floor=floor
        )

    def run_floors(self) -> None:
        """The floor table: every budget row that measured its floor, and the round trip with
        `--jobs 1` (one process, as the floor is), measured here."""
        self.floors = [FloorRow.of(row) for row in self.rows if row.floor_ratio is not None]
        n = self.n
        row = Row(
            f"`ci.rollback_roundtrip --jobs 1` on {n:,} migrations", "`ci.apply_empty`", "-",
            floor="`floor.py --round-trip`",
        )  # fmt: skip
        if available("ci.rollback_roundtrip"):
            ratio_row(
                row, self.roundtrip(n, "--jobs", "1"), self.check("apply_empty", n),
                self.heavy_repeats, module="ci.rollback_roundtrip",
                floor=self.floor(n, "--round-trip"),
            )  # fmt: skip
        self.floors.append(FloorRow.of(row))

    def status(self, n: int) -> Command:
        return self.check("migrate", n, "--db", str(self.status_db(n)), "--status")

    def noop_migrate(self, n: int) -> Command:
        db = self.status_db(n, "noop.db")
        return self.check("migrate", n, "--db", str(db), "--no-backup")

    def roundtrip(self, n: int, *args: str) -> Command:
        return self.check("rollback_roundtrip", n, *args)

    def roundtrip_row(self, n: int) -> Row:
        row = Row(
            f"`ci.rollback_roundtrip` on {n:,} migrations",
            "`ci.apply_empty` on the same corpus",
            "<= 5x", 5.0, floor="`floor.py --round-trip`",
        )  # fmt: skip
        if not available("ci.rollback_roundtrip") or not available("ci.apply_empty"):
            row.result, row.note = (
                "not available",
                "ci.rollback_roundtrip or ci.apply_empty missing",
            )
            return row
        subject = self.check("rollback_roundtrip", n)
        baseline = self.check("apply_empty", n)
        return ratio_row(
            row, subject, baseline, self.heavy_repeats, module="ci.rollback_roundtrip",
            floor=self.floor(n, "--round-trip"),
        )  # fmt: skip

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
            ">= 0.7x throughput; peak RSS < 100 MB", 0.7, ON_THROUGHPUT,
        )  # fmt: skip
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
        row.judge(also_ok=row.rss_mb < 100)
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
            "< 0.5 s", 0.5, ON_SECONDS,
        )  # fmt: skip
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
        row.judge()
        row.note = "time of the write_junit call (cases built before the clock starts)"
        return row

    def lint_row(self, n: int, repeats: int) -> Row:
        row = Row(
            "`ci.lint` on one changed file, whole process",
            '`python -c "import sqlite3"` (context)',
            "<= 1.5 s", 1.5, ON_SECONDS,
        )  # fmt: skip
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
        row.judge()
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
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="where to write the results (default: bench/RESULTS.md; with --quick, nowhere: a "
        "smoke run prints them and leaves the committed figures alone)",
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch dir (default: a temp dir)")
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(given)
    if args.results is None and args.quick:
        args.results = Path(tempfile.mkdtemp(prefix="mg-bench-quick-")) / "RESULTS.md"
        print(f"bench/run.py: a smoke run (--quick) writes {args.results}, not bench/RESULTS.md",
              file=sys.stderr)  # fmt: skip
    elif args.results is None:
        args.results = REPO / "bench" / "RESULTS.md"
    try:
        results.kept_regions(args.results)  # a broken marker stops the run now, not in 15 min
    except results.RegionError as error:
        print(f"bench/run.py: {error}", file=sys.stderr)
        return 2
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
    start = machine.Snapshot.now()
    warning = machine.load_warning(start)
    if warning:
        print(f"bench/run.py: warning: {warning}", file=sys.stderr)
    started = time.perf_counter()
    try:
        bench.run_budgets()
        bench.run_floors()
        bench.run_growth()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started
    target = args.results
    try:
        regions = results.kept_regions(target)  # read again: peers.py may have written meanwhile
    except results.RegionError as error:
        target = target.with_name(target.name + ".new")
        print(f"bench/run.py: {error}; this run is in {target}", file=sys.stderr)
        regions = {}
    text = results.render(
        bench,
        command=" ".join(["python bench/run.py", *given]),
        elapsed=elapsed,
        snapshots=(start, machine.Snapshot.now()),
        sqlite_cli=SQLITE_CLI,
        regions=regions,
    )
    results.write(target, text)
    print(text)
    return 0 if target == args.results else 2


if __name__ == "__main__":
    raise SystemExit(main())
