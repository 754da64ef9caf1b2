"""`rollback_roundtrip` on PostgreSQL (`--engine postgresql`): for each main-track migration,
fingerprint the throwaway database (schema and data, from pg_catalog), apply the migration,
fingerprint, roll it back, and the fingerprint must be the one from before (MG404, the
difference named: "sequence s renamed to s1", "view v: definition changed"); apply it again,
and it must be the one after the first apply (MG406). Codes as on SQLite (ci.checks.roundtrip):
MG401 no rollback, MG402 an empty one, MG403 the rollback fails, MG405 re-applying fails after
it (the rollback left something behind), `@irreversible` migrations skipped with their reason.
On the empty database and, with `--sample`, on the fixture's data: the pending migrations, then
the ones the data already had, newest first, rolled back and re-applied (rows lost: MG407).

Three fingerprints per migration (the one after a clean re-apply is the next migration's
"before"); each after the first reads only the groups and tables the steps since changed
(ci.db.postgres.fingerprint_delta), in a second session on the throwaway database where its
queries stay planned (fingerprint_reader): a whole read costs ~100 ms of server CPU at 1,000
generated migrations, one after a step ~5-8 ms.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Set
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci.checks.db_options import Options
from ci.checks.pg_apply import fixture_sample, prepare
from ci.checks.pg_engine import (
    POSTGRESQL,
    discover_for,
    new_pg_runner,
    required_server,
    throwaway_connection,
)
from ci.checks.pg_roundtrip_advice import reapply_advice, with_label_advice
from ci.checks.pg_validate import ROLLED_BACK, WHERE, applied
from ci.checks.rollback_files import rollback_problem, shown
from ci.checks.roundtrip import EMPTY, NAME, NOT_APPLIED, NOT_REAPPLIED, SAMPLE, rows_lost
from ci.checks.roundtrip_jobs import Part, default_jobs, plan, run_parts
from ci.checks.validate import case_name, catalog_cases, not_run
from ci.core.errors import UsageError
from ci.core.findings import RUNAWAY, Case, Finding, Report
from ci.core.model import Catalog, Migration, SqlFile, read_ahead
from ci.db.outcomes import MigrationFailed, Runaway
from ci.db.postgres.enum_labels import adds_enum_label

if TYPE_CHECKING:
    import psycopg

    from ci.db.fingerprint_records import Fingerprint
    from ci.db.postgres.connect import PgConnection
    from ci.db.postgres.fingerprint_delta import Fingerprints
    from ci.db.postgres.runner import PgRunner


def roundtrip_args(args: argparse.Namespace, selected: Set[int] | None) -> Report:
    """`python -m ci.rollback_roundtrip --engine postgresql`: `selected` the versions to
    round-trip (None: all; the others are only applied)."""
    if args.setup:
        raise UsageError("--setup registers SQLite functions: it does not apply to PostgreSQL")
    options = Options(None, None, None, False, float("inf"), args.busy_timeout,
                      statement_timeout=args.statement_timeout)  # fmt: skip
    server = required_server(args.server_url)
    jobs = args.jobs or default_jobs()
    return rollback_roundtrip(args.migrations_dir, options, server, args.sample, selected, jobs)


def rollback_roundtrip(
    root: Path,
    options: Options,
    server_url: str,
    sample_path: Path | None = None,
    selected: Set[int] | None = None,
    jobs: int = 1,
) -> Report:
    catalog = discover_for(root, POSTGRESQL)
    sample = fixture_sample(sample_path) if sample_path is not None else None
    cases = catalog_cases(NAME, catalog)
    if cases:
        return Report(NAME, cases)
    on_empty = EmptyRun(catalog, options, server_url)
    parts = plan(catalog.main, None if selected is None else set(selected), jobs)
    cases = merged(run_parts(parts, on_empty))
    if sample is not None:
        ahead = files_in_order(catalog.main, selected)
        with (
            throwaway_connection(server_url, ahead=ahead) as conn,
            fingerprint_reader(conn) as reader,
        ):
            run = new_pg_runner(conn, catalog, options.statement_timeout)
            classname = f"{NAME}.sample"
            prepared = prepare(NAME, run, sample, options, classname)
            cases += [on_sample(case) for case in prepared if case.outcome == "failed"]
            if not any(case.outcome == "failed" for case in prepared):
                applied = run.current_version()
                todo = [m for m in run.pending() if m.track == "main"]
                trip = PgRoundTrip(run, classname, selected, SAMPLE, reader=reader)
                cases += trip.all(todo)
                if selected is None and not any(case.outcome == "failed" for case in cases):
                    cases += trip.downward(catalog.main, applied)
    return Report(NAME, cases)


class EmptyRun:
    """One part of the round trip on an empty database of its own (picklable: a helper process
    receives it; each part has its own throwaway database)."""

    def __init__(self, catalog: Catalog, options: Options, server_url: str) -> None:
        self.catalog, self.options, self.server_url = catalog, options, server_url

    def __call__(self, n: int, part: Part) -> tuple[list[Case], bool]:
        """The part's cases, and whether it stopped (a migration could not be applied)."""
        ahead = files_in_order(self.catalog.main[: part.until], part.selected)
        with (
            throwaway_connection(self.server_url, ahead=ahead) as conn,
            fingerprint_reader(conn) as reader,
        ):
            run = new_pg_runner(conn, self.catalog, self.options.statement_timeout)
            trip = PgRoundTrip(run, f"{NAME}.empty", part.selected, reader=reader)
            return trip.all(self.catalog.main, until=part.until), trip.stopped


def files_in_order(migrations: list[Migration], selected: Set[int] | None) -> list[SqlFile]:
    """The files a round trip of `migrations` runs, in the order it first runs them: each
    migration, then its rollback when it is round-tripped (for parse_ahead)."""
    files = []
    for migration in migrations:
        files.append(migration.file)
        if migration.rollback and (selected is None or migration.version in selected):
            files.append(migration.rollback)
    return files


# the reader's queries keep one plan each, made for any OIDs they are given: see Fingerprints
READER_SETTINGS = {"plan_cache_mode": "force_generic_plan"}


@contextmanager
def fingerprint_reader(conn: PgConnection) -> Iterator[psycopg.Connection[Any] | None]:
    """A second session on the throwaway database for the fingerprints (faster reads: see
    ci.db.postgres.fingerprint_delta.Fingerprints); None when the server refuses one (its
    connections all taken): the reads run on `conn`, as fast as before."""
    import psycopg

    from ci.db.postgres.connect import open_beside

    try:
        reader = open_beside(conn, READER_SETTINGS)
    except psycopg.Error:
        yield None
        return
    with reader:
        yield reader


def merged(results: list[tuple[list[Case], bool]]) -> list[Case]:
    """The parts' cases in order, up to the first part that stopped (its not-run cases cover
    every migration after the one that could not be applied)."""
    cases: list[Case] = []
    for part_cases, stopped in results:
        cases += part_cases
        if stopped:
            break
    return cases


def on_sample(case: Case) -> Case:
    """A failure while building the sample data, saying so."""
    for finding in case.findings:
        finding.message += f" (on the {SAMPLE})"
    return case


class PgRoundTrip:
    """Apply, roll back, re-apply each migration on one database, comparing fingerprints."""

    def __init__(
        self,
        run: PgRunner,
        classname: str,
        selected: Set[int] | None,
        database: str = EMPTY,
        *,
        reader: psycopg.Connection[Any] | None = None,
    ) -> None:
        self.run, self.classname, self.selected, self.database = run, classname, selected, database
        self.reader = reader  # the session the fingerprints are read in (None: the runner's)
        self.cases: list[Case] = []
        self.stopped = False  # a migration could not be applied: the rest were not run
        self.stopped_because = NOT_APPLIED  # why, in the not-run cases after it
        # the fingerprint read after the last re-apply, while nothing has changed since: the
        # next migration's "before" (one read saved per migration)
        self.latest: Fingerprint | None = None
        self.fingerprints: Fingerprints | None = None

    @property
    def on(self) -> str:
        return f"on the {self.database}"

    def all(self, migrations: list[Migration], *, until: int | None = None) -> list[Case]:
        """Round-trip (or, when not selected, apply) the first `until` migrations (all when
        None); after one that cannot be applied, every migration after it is not run."""
        todo = migrations[:until]
        read_ahead([m.file for m in todo] + [m.rollback for m in todo if m.rollback])
        for index, migration in enumerate(todo):
            if not self.one(migration):
                self.stopped = True
                why = f"not run: {migration.label} {self.stopped_because}"
                for case in not_run(NAME, self.run.catalog, migrations[index + 1 :], why):
                    case.classname = self.classname
                    self.cases.append(case)
                break
        return self.cases

    def case(self, migration: Migration) -> Case:
        name = case_name(migration, self.run.catalog)
        case = Case(name, self.classname, path=str(migration.path), kind=migration.kind)
        self.cases.append(case)
        return case

    def fail(
        self, case: Case, code: str, path: str, line: int | None, message: str, hint: str
    ) -> None:
        case.findings.append(Finding(NAME, code, path, line, message, hint))
        case.path, case.line = path, line

    def failed(self, case: Case, code: str, failure: MigrationFailed, what: str, hint: str) -> None:
        if isinstance(failure, Runaway):
            code, hint = RUNAWAY, failure.hint
        self.fail(case, code, failure.path, failure.line, f"{what}: {failure.message}", hint)

    def one(self, migration: Migration) -> bool:
        """Round-trip one migration; False when the run cannot go on (it could not be applied)."""
        if self.selected is not None and migration.version not in self.selected:
            return self.apply(migration, None)
        if self.unusable(migration):
            return self.apply(migration, None)
        case = self.case(migration)
        before = self.latest or self.fingerprint()
        if not self.apply(migration, case):
            return False
        applied = self.fingerprint()
        if not self.roll_back(migration, case):
            return True  # the failed rollback was undone: the database is as after the apply
        restored = self.compare(case, migration, before, "MG404")
        if not self.apply(migration, case, again=True):
            self.stopped_because = NOT_REAPPLIED
            return False
        if restored:  # otherwise re-applying only shows the same damage again
            self.compare(case, migration, applied, "MG406")
        return True

    def downward(self, migrations: list[Migration], top: int) -> list[Case]:
        """The migrations the sample data already had (up to `top`), from the newest down:
        rolling one back and applying it again must keep the rows (MG407); then it is rolled
        back for good, to check the one below. Stops at the first that cannot be undone."""
        start = len(self.cases)
        for migration in reversed([m for m in migrations if m.version <= top]):
            if migration.directives.irreversible is not None or rollback_problem(migration):
                break
            if not self.back_and_forth(migration):
                break
        return self.cases[start:]

    def back_and_forth(self, migration: Migration) -> bool:
        rollback = migration.rollback
        assert rollback is not None
        case = self.case(migration)
        case.name += " (rolled back on the sample data)"
        before = self.latest or self.fingerprint()
        if not self.roll_back(migration, case):
            return False
        rolled_back = self.fingerprint()
        if not self.apply(migration, case, again=True):
            self.stopped_because = NOT_REAPPLIED
            return False
        after = self.fingerprint()
        lost = rows_lost(before, rolled_back, after, set(before.groups) | set(after.groups))
        if lost:
            message = (
                f"rolling back {migration.label} on the sample data and applying it again "
                "loses rows: " + "; ".join(lost)
            )
            hint = f"make {shown(rollback.path)} keep the rows (copy them in a rebuild)"
            self.fail(case, "MG407", str(rollback.path), None, message, hint)
        return self.roll_back(migration, case)

    def fingerprint(self) -> Fingerprint:
        """The database's fingerprint; each read after the first reads only what the steps
        since the one before changed (ci.db.postgres.fingerprint_delta)."""
        from ci.db.postgres.fingerprint_delta import Fingerprints

        if self.fingerprints is None:
            self.fingerprints = Fingerprints(self.run.conn, self.reader)
        return self.fingerprints.read()

    def unusable(self, migration: Migration) -> bool:
        """An @irreversible migration (skipped) or one whose rollback is missing or empty
        (a failing case): True when it cannot be round-tripped."""
        reason = migration.directives.irreversible
        if reason is not None:
            self.case(migration).skipped = f"@irreversible: {reason}"
            return True
        problem = rollback_problem(migration)
        if problem is None:
            return False
        why, code, path, message, hint = problem
        line = None
        where = WHERE.match(message)
        if why == "unreadable" and where is not None and where["line"]:
            # the server's parser refused it (a syntax error): the rollback fails (as it does
            # on SQLite when the statement runs), on that line
            code, line = "MG403", int(where["line"])
            message = f"rolling back {migration.label} {self.on} fails: {where['message']}"
            hint = "fix the rollback statement on that line"
        self.fail(self.case(migration), code, path, line, message, hint)
        return True

    def apply(self, migration: Migration, case: Case | None, *, again: bool = False) -> bool:
        self.latest = None
        try:
            outcome = applied(self.run, migration)
        except MigrationFailed as failure:
            case = case or self.case(migration)
            if again and not isinstance(failure, Runaway):
                self.blame_rollback(case, migration, failure)
            else:
                what = f"{migration.label} does not apply {self.on}"
                self.failed(case, "MG301", failure, what, ROLLED_BACK)
            return False
        if case is not None:
            case.time += outcome.seconds
            case.rows = outcome.rows
        return True

    def roll_back(self, migration: Migration, case: Case) -> bool:
        self.latest = None
        try:
            outcome = self.run.rollback(migration)
        except MigrationFailed as failure:
            what = f"rolling back {migration.label} {self.on} fails"
            self.failed(case, "MG403", failure, what, "fix the rollback statement on that line")
            return False
        case.time += outcome.seconds
        return True

    def blame_rollback(self, case: Case, migration: Migration, failure: MigrationFailed) -> None:
        """Re-applying failed after the rollback succeeded: the finding is the rollback's."""
        rollback = migration.rollback
        assert rollback is not None
        where = failure.path if failure.line is None else f"{failure.path}:{failure.line}"
        message = (
            f"re-applying {migration.label} after its rollback {self.on} fails at {where}: "
            f"{failure.message}"
        )
        said, hint = reapply_advice(
            failure.message, rollback.path, migration.path, adds_label=adds_enum_label(migration)
        )
        self.fail(case, "MG405", str(rollback.path), None, message + said, hint)

    def compare(self, case: Case, migration: Migration, expected: Fingerprint, code: str) -> bool:
        """Whether the database equals `expected`; if not, a finding naming what differs."""
        from ci.db.postgres.fingerprint import REAPPLY, ROLLBACK, describe_differences

        rollback = migration.rollback
        assert rollback is not None
        wording = ROLLBACK if code == "MG404" else REAPPLY
        found = self.fingerprint()
        differences = describe_differences(expected, found, wording=wording)
        if not differences:
            self.latest = found if code == "MG406" else None
            return True
        if code == "MG404":
            message = f"rolling back {migration.label} does not restore the {self.database}: "
            hint = f"make {shown(rollback.path)} undo exactly what {shown(migration.path)} does"
            if adds_enum_label(migration):  # not one renamed: RENAME VALUE undoes that
                hint = with_label_advice(hint, differences, shown(rollback.path))
        else:
            message = (
                f"re-applying {migration.label} after its rollback {self.on} gives another result: "
            )
            hint = "the rollback leaves something the migration then trips over or skips"
        self.fail(case, code, str(rollback.path), None, message + "; ".join(differences), hint)
        return False
