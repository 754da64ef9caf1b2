"""Production impact (`apply_sample --prod-stats stats.json`): how long each pending migration
would take on the production database and how long it would hold its write lock, estimated from
its statements' times on the sample scaled by the production row counts (the model:
ci/checks/impact_model.py; the stats file: ci.db.prodstats).

After apply_sample's own run passes, the pending migrations run once more on a fresh copy of the
sample, measured statement by statement (ci.db.impact). The estimates are printed on stderr, one
line per migration, and carried by each migration's case (`Case.impact`: the JSON report's
`impact`, the JUnit case's system-out); `--max-lock-seconds N` turns a lock estimate above N
into MG315. Stats that do not fit the sample (another schema version, missing tables, a table
empty in the sample only) are MG316 warnings: the estimate is made, and is less certain.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ci.checks import options
from ci.checks.db_options import Options
from ci.checks.impact_model import MIN_SAMPLE_ROWS, Estimate, Scales, estimate
from ci.checks.options import Option
from ci.checks.sample import open_sample, prepare
from ci.checks.validate import case_name, could_not_run, options_from
from ci.core.errors import UsageError
from ci.core.findings import Case, Finding, Report
from ci.core.model import Catalog, discover
from ci.core.scratch_dir import scratch_directory
from ci.db import prodstats
from ci.db.impact import BATCH, NO_TRANSACTION, MeasureFailed, Measurer
from ci.db.impact_io import commit_cost
from ci.db.prodstats import ProdStats

NAME = "apply_sample"
LOCK_CODE, FIT_CODE = "MG315", "MG316"

OPTIONS = (
    Option(
        "--prod-stats",
        type=Path,
        default=None,
        metavar="FILE",
        help="estimate each migration's duration and write lock in production from these "
        "stats (python -m ci.precheck --db PROD --export-stats FILE)",
    ),
    Option(
        "--max-lock-seconds",
        type=options.seconds,
        default=None,
        metavar="SECONDS",
        help="with --prod-stats: a migration estimated to hold the write lock longer fails (MG315)",
    ),
)


def with_impact(args: argparse.Namespace, run: Callable[[], Report]) -> Report:
    """`run()`'s report, with the production-impact cases when --prod-stats is given (the
    stats file is read first: a bad one stops before any work, exit 2)."""
    stats = requested(args)
    report = run()
    if stats is None:
        return report
    if report.failed:
        print(f"{NAME}: production impact not estimated: the migrations fail on the sample",
              file=sys.stderr)  # fmt: skip
        return report
    report.cases += impact_cases(args, stats)
    return report


def requested(args: argparse.Namespace) -> ProdStats | None:
    path: Path | None = getattr(args, "prod_stats", None)
    budget: float | None = getattr(args, "max_lock_seconds", None)
    if path is None:
        if budget is not None:
            raise UsageError("--max-lock-seconds needs --prod-stats FILE (the estimate it budgets)")
        return None
    return prodstats.load(path)


class Measured:
    """The pending migrations measured on a fresh copy of the sample, at production size."""

    def __init__(self, version: int, scales: Scales, estimates: list[Estimate]) -> None:
        self.version = version  # the sample's schema version before them
        self.scales = scales
        self.estimates = estimates


def measure_sample(
    catalog: Catalog, sample_path: Path, options: Options, stats: ProdStats
) -> Measured | None:
    """Run the pending migrations on a fresh copy of the sample, statement by statement, and
    scale them by `stats`; None when the sample cannot be prepared (apply_sample says why).
    Raises MeasureFailed (or sqlite3.Error) when a statement does not run here."""
    sample = open_sample(sample_path)
    with scratch_directory("migration-guard-impact-") as tmp, could_not_run():
        prepared = prepare(NAME, sample, Path(tmp) / "impact.db", catalog, options)
        try:
            if prepared.failed:
                return None
            version = prepared.run.current_version()
            measurer = Measurer(prepared.conn)
            scales = Scales(stats, measurer.sample_rows(), measurer.sample_pages())
            measurer.scale_to(scales.database)
            runs = [measurer.run(m) for m in prepared.run.pending()]
        finally:
            prepared.conn.close()
        commit = commit_cost(Path(tmp))
    return Measured(version, scales, estimate(runs, scales, commit))


def impact_cases(args: argparse.Namespace, stats: ProdStats) -> list[Case]:
    """One case per pending migration (MG315 when over the budget), and one for the stats."""
    catalog = discover(args.migrations_dir)
    started = time.perf_counter()
    try:
        measured = measure_sample(catalog, args.sample, options_from(args), stats)
    except (MeasureFailed, sqlite3.Error) as error:
        return [fit_case(catalog, [f"production impact not estimated: {error}"])]
    if measured is None:
        return []
    estimates = still_to_come(measured.estimates, stats)
    print_table(estimates, stats, catalog)
    cases = [lock_case(e, catalog, args.max_lock_seconds) for e in estimates]
    lines = misfits(stats, measured.scales, measured.version, estimates)
    fit = fit_case(catalog, lines)
    fit.time = time.perf_counter() - started
    return [fit, *cases]


def still_to_come(estimates: list[Estimate], stats: ProdStats) -> list[Estimate]:
    """The estimates of the migrations production does not have yet. A main-track migration at
    or below the stats' schema version is applied there already: it was run on the sample only
    to bring the sample to production's version, and its estimate would judge nothing."""
    if stats.schema_version is None:
        return estimates
    deployed = stats.schema_version
    return [e for e in estimates if e.migration.track != "main" or e.migration.version > deployed]


def misfits(stats: ProdStats, scales: Scales, version: int, estimates: list[Estimate]) -> list[str]:
    """What makes the estimate less certain, one line each."""
    lines: list[str] = []
    if stats.schema_version is not None and stats.schema_version > version:
        lines.append(
            f"the sample is at {version:04d} and production at {stats.schema_version:04d} (the "
            f"stats {stats.path}): the migrations up to {stats.schema_version:04d} are applied "
            "there and not estimated; the later ones scale tables matched by name (a sample at "
            "production's version measures them more exactly)"
        )
    elif stats.schema_version is not None and stats.schema_version != version:
        lines.append(
            f"the stats {stats.path} were exported at schema version {stats.schema_version:04d}, "
            f"the sample is at {version:04d} before the pending migrations: tables are matched "
            "by name"
        )
    if scales.missing:
        lines.append(
            f"the stats {stats.path} have no row count for {_names(scales.missing)}: scaled as "
            f"the database as a whole (x{scales.database:,.1f})"
        )
    for e in estimates:
        if e.unknown:
            lines.append(unknown_line(e))
        if e.thin:
            rows = ", ".join(f"{t} ({scales.sample_rows[t]:,})" for t in e.thin[:5])
            lines.append(
                f"{e.migration.label}: scaled from tables with fewer than {MIN_SAMPLE_ROWS:,} rows "
                f"in the sample: {rows}; timed on so few rows, the estimate is noise and is not "
                "held against --max-lock-seconds: use a sample with more rows per table (or a "
                "copy of production)"
            )
        for table in e.unscaled:
            lines.append(
                f"{e.migration.label}: table {table} is empty in the sample and holds "
                f"{stats.tables[table].rows:,} rows in production: its statements are scaled as "
                "the database as a whole, the estimate may be far too low"
            )
    return lines


def unknown_line(e: Estimate) -> str:
    """Why the rows of the statements that changed none on the sample are not estimated."""
    by_line: dict[int, list[str]] = {}
    for table, line in sorted(e.unknown.items()):
        by_line.setdefault(line, []).append(table)
    where = "; ".join(f"line {n} writes {', '.join(t)}" for n, t in sorted(by_line.items()))
    return (
        f"{e.migration.label}: {where} and changed no row on the sample: how many rows it "
        "changes in production is unknown, and the duration and write lock are estimated "
        "without them (may be far too low): use a sample with rows it matches (or a copy of "
        "production)"
    )


def _names(tables: list[str]) -> str:
    shown = ", ".join(tables[:5])
    return shown + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")


def fit_case(catalog: Catalog, lines: list[str]) -> Case:
    case = Case("production impact: stats", NAME, path=str(catalog.root))
    hint = "export the stats again from production (python -m ci.precheck --export-stats)"
    case.findings += [
        Finding(NAME, FIT_CODE, str(catalog.root), None, line, hint, severity="warning")
        for line in lines
    ]
    return case


def lock_case(e: Estimate, catalog: Catalog, budget: float | None) -> Case:
    migration = e.migration
    path = str(migration.path)
    case = Case(f"production impact {case_name(migration, catalog)}", NAME, path=path,
                line=e.line, kind=None)  # fmt: skip
    case.impact = impact_of(e, catalog)
    if budget is None or e.lock <= budget or e.thin:  # thin: no verdict from noise (MG316 says)
        return case
    if e.mode == BATCH:
        held = f"one batch of {migration.directives.batch:,} rows"
        hint = "lower N in -- @batch N so that one batch stays within the budget"
    else:
        held = "the whole migration" if e.mode != NO_TRANSACTION else "its longest statement"
        hint = (
            "make it a -- @batch N migration (one statement repeated, each batch committed) "
            "so the lock is held one batch at a time, or plan a maintenance window"
        )
    message = (
        f"{migration.label} would hold the write lock for ~{_duration(e.lock)} in production "
        f"({held}; estimated, budget --max-lock-seconds {budget:g})"
    )
    case.findings.append(Finding(NAME, LOCK_CODE, path, e.line, message, hint))
    return case


def print_table(estimates: list[Estimate], stats: ProdStats, catalog: Catalog) -> None:
    """The estimates, one line per migration, on stderr (the report's stdout stays its
    format's; the JSON report and JUnit carry them per case: `impact_of`)."""
    out = sys.stderr
    print(f"{NAME}: production impact, estimated from {stats.path}:", file=out)
    for e in estimates:
        print(f"  {summary(e, catalog)}", file=out)


def _lock_held(e: Estimate) -> str:
    return {BATCH: "one batch", NO_TRANSACTION: "longest statement"}.get(e.mode, "whole")


def summary(e: Estimate, catalog: Catalog) -> str:
    """`0005_x: ~2.1 s (sample 12 ms), write lock ~2.1 s (whole), writes vitals ~1,000 rows`."""
    written = (
        ", ".join(
            [f"{t} ~{n:,} row{'' if n == 1 else 's'}" for t, n in sorted(e.rows.items())]
            + [
                f"{t} ? rows (line {line} changed none on the sample)"
                for t, line in sorted(e.unknown.items())
            ]
        )
        or "no rows"
    )
    return (
        f"{case_name(e.migration, catalog)}: ~{_duration(e.seconds)} "
        f"(sample {_duration(e.sample_seconds)}), write lock ~{_duration(e.lock)} "
        f"({_lock_held(e)}), writes {written}"
    )


def impact_of(e: Estimate, catalog: Catalog) -> dict[str, object]:
    """A migration's estimate as a case carries it (keys documented in docs/reports.md)."""
    return {
        "seconds": round(e.seconds, 3),
        "sample_seconds": round(e.sample_seconds, 3),
        "lock_seconds": round(e.lock, 3),
        "lock_held": _lock_held(e),
        "lock_line": e.line,
        "rows_written": dict(sorted(e.rows.items())),
        "rows_unknown": dict(sorted(e.unknown.items())),
        "unscaled": sorted(e.unscaled),
        "thin": sorted(e.thin),
        "summary": summary(e, catalog),
    }


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
