"""bench/RESULTS.md: render a run, keeping the regions other hands wrote.

Four regions of the file are not this script's: the peers section (bench/peers.py writes it
between `<!-- peers:begin -->` and `<!-- peers:end -->`), the production-impact validation
(bench/impact.py's table, between `<!-- impact:begin -->` and `<!-- impact:end -->`), the
PostgreSQL section (bench/pg.py, between `<!-- postgresql:begin -->` and
`<!-- postgresql:end -->`) and a hand-written "Reading this run" section between
`<!-- notes:begin -->` and `<!-- notes:end -->`. A rewrite keeps them verbatim: the notes after
the machine table, the peers, the impact and PostgreSQL at the end.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import corpus
import machine
from rows import TIGHT_HEADROOM

if TYPE_CHECKING:
    from run import Bench

REGIONS = ("notes", "peers", "impact", "postgresql")  # in the order they appear in a rewritten file


class RegionError(Exception):
    """A kept region's markers are missing, repeated or out of order: the file is not rewritten."""


def kept_regions(path: Path) -> dict[str, str]:
    """{"peers": "<!-- peers:begin -->...<!-- peers:end -->"} for each region the file has."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise RegionError(f"{path}: cannot read it: {error}") from None
    regions: dict[str, str] = {}
    for name in REGIONS:
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        starts, ends = text.count(begin), text.count(end)
        if starts == ends == 0:
            continue
        first = text.index(begin) if starts else text.index(end)
        line = text.count("\n", 0, first) + 1
        if starts != 1 or ends != 1 or text.index(end) < text.index(begin):
            raise RegionError(
                f"{path}:{line}: {begin} and {end} must appear once each, in that order "
                f"(found {starts} and {ends}); fix the file, it is not rewritten"
            )
        regions[name] = text[text.index(begin) : text.index(end) + len(end)]
    return regions


def write(path: Path, text: str) -> None:
    """Replace the file in one step: a run that stops midway leaves the old file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


# --- figures -------------------------------------------------------------------------------------


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


def machine_rows(sqlite_cli: str, start: machine.Snapshot, end: machine.Snapshot) -> list[str]:
    cli = subprocess.run([sqlite_cli, "--version"], capture_output=True, text=True, check=False)
    rows = [
        ("CPU", f"{machine.cpu_model()}, {machine.cores()} cores (nproc)"),
        ("`ci.rollback_roundtrip --jobs` default here", round_trip_jobs()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("SQLite (Python module)", sqlite3.sqlite_version),
        ("SQLite CLI", " ".join(cli.stdout.split()[:2]) or "not found"),
        ("load average before the run (1/5/15 min)", start.load_text),
        ("other busy processes at the start (>= 10% of a core)", start.busy_text),
        ("load average at the end (1/5/15 min)", end.load_text),
        ("other busy processes at the end", end.busy_text),
    ]
    return [f"| {key} | {value} |" for key, value in rows]


# --- the document --------------------------------------------------------------------------------


def render(
    bench: Bench,
    *,
    command: str,
    elapsed: float,
    snapshots: tuple[machine.Snapshot, machine.Snapshot],
    sqlite_cli: str,
    regions: dict[str, str],
) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    start, end = snapshots
    warning = machine.load_warning(start)
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {when} in {elapsed:.0f} s. Every time is the median of whole-",
        "process runs (subject, baseline and floor measured together in one run, the order",
        "rotating, after one untimed warm-up). A ratio is the median of each repeat's ratio: the",
        "speed of this shared machine drifts within a minute, and a repeat shares its moment (the",
        "ratio of the two medians is in the notes). Peak RSS is the subject process's own",
        "(`wait4` rusage). Regenerate with the command above.",
        "",
        "| machine | |",
        "|---|---|",
        *machine_rows(sqlite_cli, start, end),
        f"| N (migrations) | {bench.n:,} ({corpus.split_counts(bench.n)[1]:,} of them seeds) |",
        f"| repeats | {bench.repeats} (light rows), {bench.heavy_repeats} (rows that apply"
        " migrations) |",
        "",
    ]
    if warning:
        lines += [f"**Taken under load.** {warning[0].upper()}{warning[1:]}.", ""]
    if "notes" in regions:
        lines += [regions["notes"], ""]
    lines += budget_table(bench)
    lines += instruction_table(bench)
    lines += floor_table(bench)
    lines += growth_tables(bench)
    lines += meaning()
    for name in REGIONS[1:]:
        if name in regions:
            lines += [regions[name], ""]
    return "\n".join(lines)


def budget_table(bench: Bench) -> list[str]:
    lines = [
        "## Budgets",
        "",
        "Each budget is stated against one column: the baseline ratio (ours / baseline), the floor",
        "ratio (ours / `bench/floor.py` doing the same job; the `migrate` row), or seconds. Both",
        "ratios are shown for every row that has a floor: the floor ratio moves far less between",
        f"machines. Headroom is budget / figure (figure / budget for throughput); under"
        f" {TIGHT_HEADROOM:.1f}x",
        'a row passes "PASS (tight)": it may not hold on another machine of the same kind.',
        "",
        "| work | median | baseline | baseline median | ours / baseline | floor median"
        " | ours / floor | budget | headroom | peak RSS | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in bench.rows:
        lines.append(
            f"| {row.work} | {_seconds(row.subject_s)} | {row.baseline} | "
            f"{_seconds(row.baseline_s)} | {_ratio(row.ratio)} | {_seconds(row.floor_s)} | "
            f"{_ratio(row.floor_ratio)} | {row.budget} | {_ratio(row.headroom)} | "
            f"{_mb(row.rss_mb)} | {row.result} |"
        )
    lines += ["", "Notes and every sample (seconds):", ""]
    for row in bench.rows:
        samples = ", ".join(f"{s:.3f}" for s in row.samples) or "-"
        base = ", ".join(f"{s:.3f}" for s in row.baseline_samples) or "-"
        floor = ", ".join(f"{s:.3f}" for s in row.floor_samples)
        floor = f", floor ({row.floor}) [{floor}]" if floor else ""
        note = f" {row.note}." if row.note else ""
        lines.append(f"- {row.work}: subject [{samples}], baseline [{base}]{floor}.{note}")
    return lines


def instruction_table(bench: Bench) -> list[str]:
    counted = [row for row in bench.rows if row.instructions]
    if not counted:
        return []
    lines = [
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
    return lines


def floor_table(bench: Bench) -> list[str]:
    if not bench.floors:
        return []
    lines = [
        "",
        "## Against the floor",
        "",
        "`bench/floor.py` is the least any Python tool doing each job must do (its docstring and",
        "docs/benchmarks.md say what that is per job): for the runner, the bare loop that keeps a",
        "schema_version row and a transaction per migration (read, split, BEGIN IMMEDIATE, the",
        "statements, the row(s), COMMIT); for the start-up rows, listing the folders, reading",
        "and hashing the files, reading the table once. No checks beyond that, no error",
        "handling, no report. Ours, the floor and the baseline ran together (each repeat runs",
        "all three, the order rotating); ratios are medians of each repeat's ratio. Where the",
        "floor itself is far above the baseline, that is the price of doing the job in Python.",
        "",
        "| work | floor | baseline | floor / baseline | ours / baseline | ours / floor |",
        "|---|---|---|---|---|---|",
    ]
    for floor in bench.floors:
        lines.append(
            f"| {floor.work} | {floor.floor} | {floor.baseline} | {_ratio(floor.floor_ratio)} | "
            f"{_ratio(floor.ours_ratio)} | {_ratio(floor.above_floor)} |"
        )
    lines += ["", *(f"- {floor.work}: {floor.note}." for floor in bench.floors if floor.note)]
    return lines


def growth_tables(bench: Bench) -> list[str]:
    ns = bench.growth_ns
    lines = [
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
    return lines


def meaning() -> list[str]:
    return [
        "",
        "## What each row means",
        "",
        "- The corpus (`bench/corpus.py`): N migrations, one seed per 20, the rest a repeating",
        "  pattern of CREATE TABLE (with a foreign key), CREATE INDEX + a trigger, an INSERT data",
        "  migration, ADD COLUMN and an UPDATE data migration; every main-track migration has an",
        "  exact rollback. The checks pass on it (a check that fails shows as ERROR, not a time).",
        "- Static checks, `--status` and a `ci.migrate` with nothing pending (on a database with",
        "  every migration applied) are compared with the cost of starting Python and importing",
        "  sqlite3: what any Python tool pays before doing work. Their floors: `floor.py",
        "  --numbering` (list the folders, parse the numbers), `--checksums` (read and hash every",
        "  file, compare with the lock file), `--status` (list the folders, read schema_version",
        "  once, print counts; also the no-op migrate's floor).",
        "- `ci.migrate` writes a real file with durable commits; its budget is against",
        "  `floor.py --durable`. The sqlite3 CLI feeding the same SQL with one BEGIN/COMMIT per",
        "  migration (no bookkeeping rows: the runner's `schema_version` and log rows are extra",
        "  work inside the same transactions) is shown as context, the row's older comparison.",
        "- `ci.apply_empty` works on a throwaway database; its baseline is `executescript` of the",
        "  concatenated SQL in ONE transaction in a fresh process, its floor `floor.py` without",
        "  durable commits.",
        "- `ci.rollback_roundtrip` runs as a user runs it: `--jobs` at its default, the CPUs it",
        f"  may use, at most 4 (here {round_trip_jobs()}; a run of fewer than 100 round trips uses",
        "  one). Its floor is `floor.py --round-trip`, one process; the floor table also shows",
        "  ours with `--jobs 1`.",
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
