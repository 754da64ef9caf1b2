"""`python -m ci.rollback_roundtrip`: every rollback really undoes its migration.

For each main-track migration M in order (or only those new since `--base-ref`): fingerprint
the database (schema and data), apply M, roll it back, and the fingerprint must be the one from
before M; apply M again, and it must be the one after the first apply. On an empty database
(split across `--jobs` processes) and, with `--sample`, on sample
data.
A failure says what differs ("index idx_x left behind", "column patients.notes type TEXT ->
VARCHAR(768)", "table vitals: 1,204 rows lost").
`@irreversible` migrations are skipped with their reason; a missing or empty rollback fails.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ci.checks import options
from ci.checks.base import Check
from ci.checks.db_options import SETUP, Options, busy_timeout_option, statement_timeout_option
from ci.checks.options import Option, whole_number
from ci.checks.roundtrip import NAME, SAMPLE, RoundTrip
from ci.checks.roundtrip_jobs import Part, default_jobs, plan, run_parts
from ci.checks.sample import open_sample, prepare
from ci.checks.validate import catalog_cases, could_not_run, new_runner
from ci.core.findings import Case, Finding, Report
from ci.core.model import Catalog, Migration, discover
from ci.core.scratch_dir import scratch_directory
from ci.db import runner


def work(args: argparse.Namespace) -> Report:
    if args.engine == "postgresql":
        from ci.checks.pg_roundtrip import roundtrip_args  # psycopg only for such a project

        selected = (
            new_since(args.base_ref, discover(args.migrations_dir)) if args.base_ref else None
        )
        return Report(NAME, said_once(roundtrip_args(args, selected).cases))
    if args.setup:
        runner.load_setup(args.setup)
    options = Options(
        args.setup,
        None,
        None,
        False,
        math.inf,
        args.busy_timeout,
        statement_timeout=args.statement_timeout,
    )
    return rollback_roundtrip(
        args.migrations_dir,
        options,
        sample_path=args.sample,
        base_ref=args.base_ref,
        jobs=args.jobs or default_jobs(),
    )


def rollback_roundtrip(
    root: Path,
    options: Options,
    *,
    sample_path: Path | None = None,
    base_ref: str | None = None,
    jobs: int = 1,
) -> Report:
    catalog = discover(root)
    sample = open_sample(sample_path) if sample_path is not None else None
    selected = new_since(base_ref, catalog) if base_ref else None
    cases = catalog_cases(NAME, catalog)
    if cases:
        return Report(NAME, cases)
    with scratch_directory("migration-guard-") as tmp, could_not_run():
        on_empty = EmptyRun(catalog, options, Path(tmp))
        cases = merged(run_parts(plan(catalog.main, selected, jobs), on_empty))
        if sample is not None:
            classname = f"{NAME}.sample"
            prepared = prepare(
                NAME, sample, Path(tmp) / "sample.db", catalog, options, classname=classname
            )
            try:
                cases += [on_sample(c) for c in prepared.cases if c.outcome == "failed"]
                if not prepared.failed:
                    applied = prepared.run.current_version()
                    todo = [m for m in prepared.run.pending() if m.track == "main"]
                    trip = RoundTrip(prepared.run, classname, selected, database=SAMPLE)
                    cases += trip.all(todo)
                    if selected is None and not any(c.outcome == "failed" for c in cases):
                        cases += trip.downward(catalog.main, applied)
            finally:
                prepared.conn.close()
    return Report(NAME, said_once(cases))


def on_sample(case: Case) -> Case:
    """A failure while building the sample data, saying so (the empty database's run has a
    finding of its own for the same migration)."""
    case.findings = [
        Finding(f.check, f.code, f.path, f.line, f"{f.message} (on the {SAMPLE})", f.hint)
        for f in case.findings
    ]
    return case


def said_once(cases: list[Case]) -> list[Case]:
    """Without the cases whose findings an earlier case already reported word for word: a
    missing or empty rollback file is the same problem on the empty and on the sample data."""
    seen: list[list[Finding]] = []
    kept = []
    for case in cases:
        if case.findings and case.findings in seen:
            continue
        seen.append(case.findings)
        kept.append(case)
    return kept


class EmptyRun:
    """One part of the round trip on an empty database of its own (picklable: a helper process
    receives it)."""

    def __init__(self, catalog: Catalog, options: Options, tmp: Path) -> None:
        self.catalog, self.options, self.tmp = catalog, options, tmp

    def __call__(self, n: int, part: Part) -> tuple[list[Case], bool]:
        """The part's cases, and whether it stopped (a migration could not be applied)."""
        db = self.tmp / ("empty.db" if n == 0 else f"empty-{n}.db")
        conn = runner.connect(db, setup=self.options.setup, durable=False)
        try:
            run = new_runner(conn, self.catalog, self.options)
            trip = RoundTrip(run, f"{NAME}.empty", part.selected)
            return trip.all(self.catalog.main, until=part.until), trip.stopped
        finally:
            conn.close()


def merged(results: list[tuple[list[Case], bool]]) -> list[Case]:
    """The parts' cases in order, up to the first part that stopped: its not-run cases cover
    every migration after the one that could not be applied, as one process would have."""
    cases: list[Case] = []
    for part_cases, stopped in results:
        cases += part_cases
        if stopped:
            break
    return cases


def new_since(ref: str, catalog: Catalog) -> set[int]:
    """Versions of the main-track migrations whose files did not exist at the merge base of
    HEAD and `ref`."""
    from ci.core.gitrefs import list_base_files

    before = set(list_base_files(ref, catalog.root))
    return {m.version for m in catalog.main if _relative(m, catalog) not in before}


def _relative(migration: Migration, catalog: Catalog) -> str:
    return migration.path.relative_to(catalog.root).as_posix()


CHECK = Check(
    NAME,
    __doc__,
    (
        Option(
            "--sample",
            type=Path,
            default=None,
            metavar="PATH",
            help="also round-trip the pending migrations on this sample (.sql fixture, .db file, "
            "or on PostgreSQL a pg_dump -Fc archive)",
        ),
        options.base_ref("only the migrations added since this git ref (e.g. origin/main)"),
        SETUP,
        Option(
            "--jobs",
            type=whole_number("processes", 1),
            default=None,
            metavar="N",
            help="processes for the round trip on the empty database (default: the CPUs this "
            "process may use, at most 4; a small run always uses one)",
        ),
        busy_timeout_option(),
        statement_timeout_option(),
        options.engine(),
        options.server_url(),
    ),
    work,
)
