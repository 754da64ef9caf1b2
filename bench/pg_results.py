"""bench/pg.py's results: the full page (bench/RESULTS-postgresql.md) and its summary, the
PostgreSQL section of bench/RESULTS.md between `<!-- postgresql:begin -->` and
`<!-- postgresql:end -->`, a region bench/run.py keeps verbatim when it rewrites that file (so
neither engine's run overwrites the other's figures).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import statistics
import subprocess
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import machine
import results
from results import _mb, _ratio, _seconds
from rows import FloorRow, Row

if TYPE_CHECKING:
    from pg import PgBench

BEGIN, END = "<!-- postgresql:begin -->", "<!-- postgresql:end -->"


@dataclass(frozen=True)
class RunFacts:
    command: str
    elapsed: float
    snapshots: tuple[machine.Snapshot, machine.Snapshot]
    server: list[tuple[str, str]]  # (label, value): the server's version and settings


def render(bench: PgBench, facts: RunFacts) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    warning = machine.load_warning(facts.snapshots[0])
    lines = [
        "# Benchmark results: PostgreSQL",
        "",
        f"Written by `{facts.command}` on {when} in {facts.elapsed:.0f} s, as",
        "`bench/run.py` measures SQLite ([benchmarks](../docs/benchmarks.md#postgresql)): every",
        "time is the median of whole-process runs (subject, baseline and floor measured together,",
        "the order rotating, after one untimed warm-up); a ratio is the median of each repeat's",
        "ratio. Each run that applies migrations starts on a new empty database (created before",
        "the clock starts). Peak RSS is the subject process's own.",
        "",
        "| machine | |",
        "|---|---|",
        *machine_rows(bench, facts),
        "",
    ]
    if warning:
        lines += [f"**Taken under load.** {warning[0].upper()}{warning[1:]}.", ""]
    lines += budget_table(bench.rows)
    lines += floor_table(bench.rows)
    lines += reproduce(bench)
    lines += meaning(bench)
    return "\n".join(lines)


def machine_rows(bench: PgBench, facts: RunFacts) -> list[str]:
    start, end = facts.snapshots
    creates = bench.server.create_seconds
    rows = [
        ("CPU", f"{machine.cpu_model()}, {machine.cores()} cores (nproc)"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        *facts.server,
        ("`CREATE DATABASE ... TEMPLATE template0` here (median)",
         f"{statistics.median(creates):.3f} s of {len(creates)}" if creates else "-"),
        ("load average before the run (1/5/15 min)", start.load_text),
        ("other busy processes at the start (>= 10% of a core)", start.busy_text),
        ("load average at the end (1/5/15 min)", end.load_text),
        ("other busy processes at the end", end.busy_text),
        ("code measured (the `ci` package the commands import)", code_measured()),
        ("N (migrations)", f"{bench.n:,} ({len(bench.corpus.seeds) if bench.corpus else 0:,}"
         " of them seeds)"),
        ("repeats", f"{bench.repeats} (`--status`), {bench.heavy_repeats} (rows that apply"
         f" migrations), {bench.round_trip_repeats} (the round trip)"),
    ]  # fmt: skip
    return [f"| {key} | {value} |" for key, value in rows]


def code_measured() -> str:
    """Where `ci` comes from for the measured commands (they inherit this environment) and its
    git commit, so a run made against another branch's checkout says so."""
    spec = importlib.util.find_spec("ci")
    if spec is None or spec.origin is None:
        return "ci is not importable"
    root = Path(spec.origin).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=False)  # fmt: skip
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h %s")
    if not commit:
        return f"{root} (not a git checkout)"
    branches = git("branch", "--points-at", "HEAD", "--format=%(refname:short)").split()
    on = f" (branch {', '.join(branches)})" if branches else ""
    changed = ", with uncommitted changes in ci/" if git("status", "--porcelain", "ci") else ""
    text = f"{root}: {textwrap.shorten(commit, 80, placeholder=' ...')}{on}{changed}"
    return text.replace("|", "\\|")


def budget_table(rows: list[Row]) -> list[str]:
    lines = [
        "## Budgets",
        "",
        "The budgets are SQLite's, each against PostgreSQL's counterpart of its baseline:",
        "the runner against its floor, `psql -1 -f` once per file (a new process, connection and",
        "commit per migration, no bookkeeping); `apply_empty` against ONE psql of everything in",
        "one transaction; the round trip against `apply_empty`; `--status` against starting",
        "Python and connecting. The checks' rows also measure a floor (`bench/pg_floor.py`,",
        "below), with no budget on it. Headroom is budget / figure; a row the checks cannot run",
        'on PostgreSQL yet says "not measured" and the line the command printed.',
        "",
        "| work | median | baseline | baseline median | ours / baseline | floor | floor median"
        " | ours / floor | floor / baseline | budget | headroom | peak RSS | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.work} | {_seconds(row.subject_s)} | {row.baseline} | "
            f"{_seconds(row.baseline_s)} | {_ratio(row.ratio)} | {row.floor or '-'} | "
            f"{_seconds(row.floor_s)} | {_ratio(row.floor_ratio)} | "
            f"{_ratio(row.floor_over_baseline)} | {row.budget} | "
            f"{_ratio(row.headroom)} | {_mb(row.rss_mb)} | {row.result} |"
        )
    lines += ["", "Notes and every sample (seconds):", ""]
    for row in rows:
        samples = ", ".join(f"{s:.3f}" for s in row.samples) or "-"
        base = ", ".join(f"{s:.3f}" for s in row.baseline_samples) or "-"
        floor = ", ".join(f"{s:.3f}" for s in row.floor_samples)
        floor = f", floor [{floor}]" if floor else ""
        note = f" {row.note}." if row.note else ""
        lines.append(f"- {row.work}: subject [{samples}], baseline [{base}]{floor}.{note}")
    return lines


def floor_table(rows: list[Row]) -> list[str]:
    """The rows that measured a floor: how far ours is above it, and how far it is above the
    baseline (the part of the budget no Python tool could take back)."""
    floors = [FloorRow.of(row) for row in rows if row.floor_ratio is not None]
    if not floors:
        return []
    lines = [
        "",
        "## Against the floor",
        "",
        "Each floor is the least a tool doing that job must do: `psql -1 -f` per file for the",
        "runner; for the checks, `bench/pg_floor.py` (its docstring says what it does and what",
        "ours does beyond it): make a database from template0, the runner's table, one query",
        "per migration (the file and its row, one implicit transaction), the DROP sent and not",
        "waited for; the round trip's also rolls each main-track migration back (with its row's",
        "DELETE) and applies it again, in as many processes as ours, no fingerprints. Floor /",
        "baseline is how far the budget's baseline is below what such a tool reaches.",
        "",
        "| work | floor | baseline | floor / baseline | ours / baseline | ours / floor |",
        "|---|---|---|---|---|---|",
    ]
    for floor in floors:
        lines.append(
            f"| {floor.work} | {floor.floor} | {floor.baseline} | {_ratio(floor.floor_ratio)} | "
            f"{_ratio(floor.ours_ratio)} | {_ratio(floor.above_floor)} |"
        )
    return [*lines, "", *(f"- {floor.work}: {floor.note}." for floor in floors if floor.note)]


def reproduce(bench: PgBench) -> list[str]:
    """The commands each row ran, with the scratch folder as WORK and the run's own database
    names as they were (`mgbench_<pid>_<role>`, recreated empty before each run)."""
    lines = [
        "",
        "## Commands",
        "",
        "Reproduce the run with the command at the top (`--server-url URL` for another server;",
        "`python bench/pg_corpus.py DIR --n 1000` writes the corpus alone). What each row ran",
        "(`WORK` is the scratch folder):",
        "",
    ]
    seen: set[str] = set()
    for what, argv in bench.commands:
        shown = " ".join(_short(arg, bench) for arg in argv)
        if shown not in seen:
            seen.add(shown)
            lines.append(f"- {what}: `{shown}`")
    return lines


def _short(arg: str, bench: PgBench) -> str:
    arg = arg.replace(str(bench.work), "WORK")
    if "\n" in arg:  # an inline program: named, not printed
        return "'<the status floor: bench/pg.py STATUS_FLOOR>'"
    if re.search(r"\s", arg):
        return f"'{arg}'"
    return os.path.basename(arg) if arg.startswith("/") and "WORK" not in arg else arg


def meaning(bench: PgBench) -> list[str]:
    return [
        "",
        "## What each row means",
        "",
        "- The corpus (`bench/pg_corpus.py`): N migrations, one seed per 20 (`ON CONFLICT DO",
        "  NOTHING`), the rest a repeating pattern of CREATE TABLE (identity key, a foreign key",
        "  to the previous table), CREATE INDEX + a PL/pgSQL trigger function in `$$` and its",
        "  trigger, an INSERT data migration (`;` in a string and a comment), ADD COLUMN and an",
        "  UPDATE data migration; every main-track migration has a rollback that undoes it.",
        "- `ci.migrate --database-url` commits each migration with its `schema_version` row and",
        "  log row, on one connection. Its floor, `psql -1 -f` per file, is what a shell loop",
        "  over the files costs (one process, connection and transaction per file, no",
        "  bookkeeping); ONE psql of everything in one transaction is the least the SQL costs.",
        "- `ci.apply_empty` and `ci.rollback_roundtrip` create, use and drop their own throwaway",
        "  database (`mg_...`): that is in their time, not in the psql baseline's (the machine",
        "  table gives what creating one costs here). So do their floors, `pg_floor.py --check`",
        "  and `--round-trip` (as ours, the DROP sent and not waited for); the round trip's runs",
        "  in as many processes as ours (`--jobs`' default), its work split the same way.",
        "- `--status`: a database with the whole corpus applied; the baseline starts Python,",
        "  imports psycopg and connects; the floor also lists the folders and reads",
        "  `schema_version` once.",
        "",
    ]


def section(bench: PgBench, facts: RunFacts, full: Path, summary: Path) -> str:
    """The PostgreSQL section of RESULTS.md: the budget rows in short, linking the full page."""
    link = os.path.relpath(full, summary.parent)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    server = dict(facts.server).get("PostgreSQL server", "?")
    lines = [
        BEGIN,
        "## PostgreSQL",
        "",
        f"Written by `{facts.command}` on {when}: {bench.n:,} migrations on {server}.",
        f"The machine, every sample and the commands: [{os.path.basename(full)}]({link}).",
        f"Code measured: {code_measured()}.",
        *(["Taken under load: " + _load_note(facts.snapshots[0])] if _loaded(facts) else []),
        "",
        "| work | median | baseline | ours / baseline | ours / floor | floor / baseline | budget"
        " | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in bench.rows:
        lines.append(
            f"| {row.work} | {_seconds(row.subject_s)} | {row.baseline} | {_ratio(row.ratio)} | "
            f"{_ratio(row.floor_ratio)} | {_ratio(row.floor_over_baseline)} | {row.budget} | "
            f"{row.result} |"
        )
    unmeasured = [row for row in bench.rows if row.result == "not measured"]
    if unmeasured:
        lines += ["", *(f"- {row.work}: {row.note}." for row in unmeasured)]
    return "\n".join([*lines, END])


def _loaded(facts: RunFacts) -> bool:
    return machine.load_warning(facts.snapshots[0]) is not None


def _load_note(start: machine.Snapshot) -> str:
    return f"the 1-min load at the start was {start.loads[0]:.2f} on {machine.cores()} cores."


def write_section(path: Path, region: str) -> None:
    """Replace the PostgreSQL region of `path` (or add it at the end), in one step."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    old = results.kept_regions(path).get("postgresql")
    if old:
        text = text.replace(old, region)
    else:
        text = f"{text.rstrip()}\n\n{region}\n" if text.strip() else f"{region}\n"
    results.write(path, text)
