"""Validate the production-impact estimate (`apply_sample --prod-stats`) against real runs.

    python bench/impact.py                          # 1x = 10,000 vitals, 100 patients
    python bench/impact.py --vitals 2000 --patients 20 --repeat 1     # a quick look

1. schema/sample/generate.py builds the worked example's database (schema version 4) at 1x,
   10x and 100x (--vitals and --patients times 10 and 100, the same --seed).
2. `python -m ci.precheck --db Nx.db --export-stats Nx.json` writes the stats of 10x and 100x.
3. `python -m ci.apply_sample --sample 1x.db --prod-stats Nx.json` runs, and its estimate lines
   are shown; the figures compared come from the same code in this process
   (ci.checks.impact.measure_sample), the median of --repeat runs.
4. Each Nx database is copied and migrated for real by the runner, durable as in production
   (what `python -m ci.migrate` does): each migration's time, median of --repeat fresh copies.
   A @batch migration's longest batch is measured on another copy by running it batch by batch
   (ci.db.impact.Measurer, durable connection, each batch committed).
5. A markdown table: estimate vs measured and their ratio (the goal: within 2x), for the
   duration and the write lock of each main-track migration (the seeds take milliseconds).

Timings are wall clock on a shared machine: run it on a quiet one. On a machine that others
load, `--without-cpu-wait` stops the real runs' clock while their thread waits for a CPU
(ci.db.impact_io.io_clock, Linux): what is left is their CPU time and their waits for the disk,
which the estimate stands for (its statements are timed in CPU time, its commits on io_clock).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ci.checks.db_options import Options  # noqa: E402
from ci.checks.impact import measure_sample  # noqa: E402
from ci.core.model import Catalog, discover  # noqa: E402
from ci.db import prodstats  # noqa: E402
from ci.db.impact import BATCH, Measurer  # noqa: E402
from ci.db.impact_io import io_clock  # noqa: E402
from ci.db.runner import Runner, connect  # noqa: E402

MIGRATIONS = REPO / "schema" / "migrations"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
OPTIONS = Options(None, None, None, False, 300.0)

Figures = dict[str, tuple[float, float]]  # migration label -> (duration, longest lock)


def wall() -> float:
    return time.perf_counter()


CLOCK = wall


def generate(out: Path, vitals: int, patients: int, seed: int) -> None:
    command = [sys.executable, "schema/sample/generate.py", "--out", str(out), "--seed", str(seed)]
    command += ["--vitals", str(vitals), "--patients", str(patients)]
    subprocess.run(command, cwd=REPO, env=ENV, check=True, capture_output=True)


def export_stats(db: Path) -> Path:
    out = db.with_suffix(".json")
    command = [sys.executable, "-m", "ci.precheck", "--db", str(db), "--export-stats", str(out)]
    subprocess.run(command, cwd=REPO, env=ENV, check=True, capture_output=True)
    return out


def cli_estimate(sample: Path, stats: Path) -> str:
    """What a user sees: apply_sample's estimate lines (stderr)."""
    command = [sys.executable, "-m", "ci.apply_sample", "--migrations-dir", str(MIGRATIONS)]
    command += ["--sample", str(sample), "--prod-stats", str(stats)]
    done = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"apply_sample failed:\n{done.stdout}{done.stderr}")
    return done.stderr


def estimated(sample: Path, stats: Path, repeat: int) -> Figures:
    catalog = discover(MIGRATIONS)
    loaded = prodstats.load(stats)
    runs: list[Figures] = []
    for _ in range(repeat):
        measured = measure_sample(catalog, sample, OPTIONS, loaded)
        assert measured is not None
        runs.append({e.migration.label: (e.seconds, e.lock) for e in measured.estimates})
    return _median(runs)


def measured(db: Path, work: Path, repeat: int) -> dict[str, tuple[float, float, float]]:
    """Each pending migration applied for real on fresh copies of `db`: (duration, lock held:
    the whole migration, or the median batch of a @batch one, and its longest batch), medians."""
    catalog = discover(MIGRATIONS)
    runs: list[dict[str, tuple[float, float, float]]] = []
    for _ in range(repeat):
        figures = {label: (s, s, s) for label, s in _applied(db, work, catalog).items()}
        for label, batches in _batches(db, work, catalog).items():
            median = statistics.median(batches)
            figures[label] = (figures[label][0], median, max(batches))
        runs.append(figures)
    return {
        label: tuple(statistics.median(r[label][i] for r in runs) for i in range(3))  # type: ignore[misc]
        for label in runs[0]
    }


def _copy(db: Path, copy: Path) -> Path:
    """A copy of `db` on disk: flushed first, or the first commit's fsync would write out the
    whole copy (a production database is not a file written a moment ago)."""
    shutil.copyfile(db, copy)
    with copy.open("rb+") as handle:
        os.fsync(handle.fileno())
    return copy


def _applied(db: Path, work: Path, catalog: Catalog) -> dict[str, float]:
    """The runner applying each pending migration to a copy, durable: wall time per
    migration, its commit included (the runner's own figure stops before the commit)."""
    copy = _copy(db, work / "real.db")
    conn = connect(copy)
    try:
        run = Runner(conn, catalog, out=io.StringIO())
        pending = run.preflight()
        run.ensure_bookkeeping()
        times = {}
        for migration in pending:
            started = CLOCK()
            run.apply(migration)
            times[migration.label] = CLOCK() - started
    finally:
        conn.close()
    return times


def _batches(db: Path, work: Path, catalog: Catalog) -> dict[str, list[float]]:
    """Each batch of each @batch migration (commit included), run batch by batch on a durable
    copy (ci.db.impact.Measurer on a connection opened as for production)."""
    copy = _copy(db, work / "batches.db")
    conn = connect(copy)
    try:
        pending = Runner(conn, catalog, out=io.StringIO()).pending()
        measurer = Measurer(conn, clock=CLOCK)  # the real run: wall clock
        found = {}
        for migration in pending:
            result = measurer.run(migration)
            if result.mode == BATCH:
                found[migration.label] = result.batch_seconds
    finally:
        conn.close()
    return found


def _median(runs: list[Figures]) -> Figures:
    result: Figures = {}
    for label in runs[0]:
        durations = [r[label][0] for r in runs]
        locks = [r[label][1] for r in runs]
        result[label] = (statistics.median(durations), statistics.median(locks))
    return result


Line = tuple[str, str, str, float, float, float, float, float]


def table(rows: list[Line]) -> str:
    lines = [
        "| size | migration | lock held | est. duration | measured | ratio "
        "| est. lock | measured lock | ratio | longest batch |",
        "|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for size, label, held, est, real, est_lock, real_lock, longest in rows:
        batch = _s(longest) if held == "one batch" else ""
        lines.append(
            f"| {size} | {label} | {held} | {_s(est)} | {_s(real)} | {_ratio(est, real)} "
            f"| {_s(est_lock)} | {_s(real_lock)} | {_ratio(est_lock, real_lock)} | {batch} |"
        )
    return "\n".join(lines)


def _s(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def _ratio(estimate: float, real: float) -> str:
    return f"{estimate / real:.2f}" if real > 0 else "n/a"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vitals", type=int, default=10_000, help="vitals at 1x (10000)")
    parser.add_argument("--patients", type=int, default=100, help="patients at 1x (100)")
    parser.add_argument("--scales", default="10,100", help="production sizes (10,100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, median (3)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", type=Path, default=None, help="build the databases here")
    parser.add_argument(
        "--without-cpu-wait",
        action="store_true",
        help="time the real runs without their waits for a CPU (a machine others load)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    global CLOCK
    if args.without_cpu_wait:
        CLOCK = io_clock
    scales = [int(s) for s in args.scales.split(",")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-impact-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        sample = work / "x1.db"
        generate(sample, args.vitals, args.patients, args.seed)
        catalog = discover(MIGRATIONS)
        kinds = {m.label: m for m in catalog.main}
        rows: list[Line] = []
        for scale in scales:
            db = work / f"x{scale}.db"
            generate(db, args.vitals * scale, args.patients * scale, args.seed)
            stats = export_stats(db)
            print(f"## {scale}x: {cli_estimate(sample, stats)}", file=sys.stderr)
            est = estimated(sample, stats, args.repeat)
            real = measured(db, work, args.repeat)
            for label, (seconds, lock) in est.items():
                migration = kinds.get(label)
                if migration is None:  # a seed
                    continue
                held = "one batch" if migration.directives.batch else "whole migration"
                duration, real_lock, longest = real[label]
                rows.append((f"{scale}x", label, held, seconds, duration, lock, real_lock, longest))
        print(
            f"1x = {args.vitals:,} vitals, {args.patients:,} patients (schema/sample/generate.py "
            f"--seed {args.seed}); median of {args.repeat} runs each"
            + ("; real runs without their waits for a CPU" if args.without_cpu_wait else "")
            + "\n"
        )
        print(table(rows))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
