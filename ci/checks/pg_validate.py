"""What the database checks share on PostgreSQL: a migration applied as a test case, a sample
fixture loaded, and the validation after the last migration (invalid indexes and constraints
never validated, the version, the invariants, the schema snapshot).

The cases and findings are the SQLite checks' (ci.checks.validate): same names, codes and
wording, so a report reads the same whatever the engine. The runner is a
ci.db.postgres.runner.PgRunner on a throwaway database (ci.checks.pg_engine).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ci.checks.db_options import Options
from ci.checks.validate import (
    AFTER_INTEGRITY,
    AFTER_INVARIANT,
    case_name,
    failed_case,
    migration_case,
    not_run,
)
from ci.core.errors import UsageError
from ci.core.findings import RUNAWAY, Case, Finding
from ci.core.model import Migration
from ci.db import health
from ci.db.invariants import Invariant
from ci.db.outcomes import MigrationFailed, Outcome, Runaway, RunRefused, runaway

if TYPE_CHECKING:
    from ci.checks.sample import Sample
    from ci.db.postgres.engine import PgDatabase
    from ci.db.postgres.runner import PgRunner

SHOWN = 20  # problems listed in one finding
WHERE = re.compile(r"^(?P<path>[^:]+?)(?::(?P<line>\d+))?: (?P<message>.*)$")
ROLLED_BACK = "fix the statement on that line; the migration was rolled back"


def refuse_sqlite_only(options: Options) -> None:
    """The options that only mean something on SQLite: one line, exit 2."""
    if options.setup:
        raise UsageError("--setup registers SQLite functions: it does not apply to PostgreSQL")


def applied(run: PgRunner, migration: Migration) -> Outcome:
    """`run.apply(migration)`; a file the runner refuses before running it (a syntax error, a
    psql meta-command, a @batch file that is not one DML statement using :batch_size) fails
    like a statement does: MigrationFailed naming the line."""
    try:
        return run.apply(migration)
    except RunRefused as refused:
        raise as_failure(migration, refused) from None


def as_failure(migration: Migration, refused: RunRefused) -> MigrationFailed:
    """A refusal before the file ran, as the failure of its first line it names."""
    text = str(refused).split("\n")[0]
    where = WHERE.match(text)
    if where is None:
        return MigrationFailed(migration.path, None, text)
    line = int(where["line"]) if where["line"] else None
    return MigrationFailed(where["path"], line, where["message"])


def pg_apply_case(
    check: str,
    run: PgRunner,
    migration: Migration,
    options: Options,
    classname: str | None = None,
) -> Case:
    """Apply one migration: a passing case with its time and rows, or a failing one naming
    the file and the line of the failing statement."""
    try:
        outcome = applied(run, migration)
    except MigrationFailed as failure:
        return failing_case(check, run, migration, failure, classname)
    return migration_case(check, run.catalog, migration, outcome, options.warn_slow, classname)


def failing_case(
    check: str,
    run: PgRunner,
    migration: Migration,
    failure: MigrationFailed | RunRefused,
    classname: str | None,
) -> Case:
    """The case of a migration that failed (or was refused before it ran): MG301, or MG311
    when it ran away."""
    if isinstance(failure, RunRefused):
        failure = as_failure(migration, failure)
    code, hint = "MG301", ROLLED_BACK
    if isinstance(failure, Runaway):
        code, hint = RUNAWAY, failure.hint
    name = case_name(migration, run.catalog)
    case = failed_case(check, code, name, failure, hint, migration.kind)
    case.classname = classname or check
    return case


def apply_each(
    check: str,
    run: PgRunner,
    migrations: list[Migration],
    options: Options,
    classname: str | None = None,
) -> list[Case]:
    """Each migration as a case, in order, applied in grouped transactions on the throwaway
    database (ci.db.postgres.check_groups: each with its own time, rows and checks, as
    `run.apply` applies it); after a failing one the rest are not-run cases."""
    from ci.db.postgres.check_groups import apply_grouped

    outcomes: list[Outcome] = []
    run.ensure_bookkeeping()
    try:
        apply_grouped(run, migrations, outcomes.append)
    except (MigrationFailed, RunRefused) as error:
        failing = migrations[len(outcomes)]
        cases = [_passed(check, run, o, options, classname) for o in outcomes]
        cases.append(failing_case(check, run, failing, error, classname))
        why = f"not run: {failing.label} failed"
        return cases + not_run(check, run.catalog, migrations[len(outcomes) + 1 :], why)
    return [_passed(check, run, o, options, classname) for o in outcomes]


def _passed(
    check: str, run: PgRunner, outcome: Outcome, options: Options, classname: str | None
) -> Case:
    return migration_case(
        check, run.catalog, outcome.migration, outcome, options.warn_slow, classname
    )


def load_fixture(check: str, run: PgRunner, sample: Sample, classname: str | None) -> Case:
    """The fixture's statements in one transaction, under the migrations' rules, with the
    --statement-timeout one migration gets; a failure names its line (the SQLite check's MG309,
    or MG311 when it ran away)."""
    import psycopg

    from ci.core.model import SqlFile
    from ci.db.postgres.engine import PgDatabase
    from ci.db.postgres.execute import (
        cancelled_from_outside,
        is_cancel_request,
        is_statement_timeout,
        said_line,
        statements,
    )

    case = Case(f"sample {sample.path}", classname or check, path=str(sample.path))
    database = PgDatabase(run.conn, str(sample.path))
    database.begin()
    if run.statement_timeout:
        milliseconds = max(1, int(run.statement_timeout * 1000))
        run.conn.execute(f"SET LOCAL statement_timeout = {milliseconds}")
    refused: str | None = None
    line: int | None = None
    fixture, current = SqlFile(sample.path), None
    try:
        gate = database.gate()
        for statement in statements(fixture):
            line, current = statement.line, statement
            refused = gate.execute(statement)
            if refused is not None:
                break
    except psycopg.Error as error:
        if is_cancel_request(error):
            database.rollback()
            raise cancelled_from_outside(f"{sample.path}:{line}", error) from None
        if is_statement_timeout(error):
            database.rollback()
            failure = runaway(sample.path, line, run.statement_timeout)
            case.line = line
            case.findings.append(
                Finding(check, RUNAWAY, str(sample.path), line, failure.message, failure.hint)
            )
            return case
        refused = " ".join(str(error).split())
        if current is not None:  # where the server points (in a DO block: the body's line)
            line = said_line(error.diag, fixture, current)
    if refused is None:
        database.commit()
        return case
    database.rollback()
    case.line = line
    message = f"the sample fixture does not load at version {sample.version:04d}: {refused}"
    hint = "make the fixture fit the schema of its @sample-version"
    case.findings.append(Finding(check, "MG309", str(sample.path), line, message, hint))
    return case


def validate(
    check: str, run: PgRunner, options: Options, invariants: list[Invariant]
) -> list[Case]:
    """Cases after the last migration: integrity (invalid indexes, NOT VALID constraints),
    version, invariants, schema snapshot (as on SQLite: ci.checks.validate)."""
    from ci.db.postgres.engine import PgDatabase

    database = PgDatabase(run.conn, "the check's throwaway database")
    cases = [
        _timed(lambda: integrity_case(check, database, str(run.catalog.root))),
        _timed(lambda: version_case(check, run)),
    ]
    path = str(options.invariants)
    for invariant in invariants:
        cases.append(
            _timed(
                lambda i=invariant: health.invariant_case(
                    check, database, i, path, AFTER_INVARIANT, timeout=options.statement_timeout
                )
            )
        )
    if options.snapshot is not None:
        snapshot = options.snapshot
        if options.write_snapshot:
            cases.append(_timed(lambda: write_snapshot_case(check, run, snapshot)))
        else:
            cases.append(_timed(lambda: snapshot_case(check, run, snapshot)))
    return cases


def integrity_case(check: str, database: PgDatabase, root: str) -> Case:
    """What the server keeps but does not vouch for: an index left invalid (a failed CREATE
    INDEX CONCURRENTLY) or a constraint added NOT VALID and never validated."""
    case = Case("integrity_check", check, path=root)
    problems = database.integrity_problems(SHOWN + 1)
    if problems:
        more = " (and more)" if len(problems) > SHOWN else ""
        message = f"{AFTER_INTEGRITY.prefix}: " + "; ".join(problems[:SHOWN]) + more
        case.findings.append(
            Finding(check, AFTER_INTEGRITY.code, root, None, message, AFTER_INTEGRITY.hint)
        )
    return case


def version_case(check: str, run: PgRunner) -> Case:
    """schema_version must say the highest migration after the run (as on SQLite, MG305)."""
    root = str(run.catalog.root)
    head, current = run.catalog.head, run.current_version()
    case = Case("version", check, path=root)
    if current != head:
        message = (
            f"schema_version says {current:04d} after the run, the highest migration is {head:04d}"
        )
        hint = "every migration must record itself; do not write schema_version by hand"
        case.findings.append(Finding(check, "MG305", root, None, message, hint))
    return case


def write_snapshot_case(check: str, run: PgRunner, path: Path) -> Case:
    """--write-snapshot: the schema the migrations produced, written to `path` (never over a
    file that is not a snapshot)."""
    from ci.checks.snapshot import snapshot_refusal
    from ci.db.postgres.snapshot import snapshot_text
    from ci.reports import outputs

    try:
        outputs.write_atomically(path, snapshot_text(run.conn), refused=snapshot_refusal(path))
    except outputs.OutputRefused as refused:
        raise UsageError(str(refused)) from None
    except OSError as error:
        raise UsageError(f"{path}: cannot write the snapshot: {error.strerror}") from None
    return Case(f"schema snapshot written to {path}", check, path=str(path))


def snapshot_case(check: str, run: PgRunner, path: Path) -> Case:
    """The committed snapshot against the schema the migrations produced: MG307 naming the
    first objects that differ, as on SQLite."""
    from ci.db.postgres.snapshot import snapshot_text
    from ci.db.postgres.snapshot_diff import describe_drift, parse_snapshot

    expected = parse_snapshot(committed_snapshot(path))
    if expected.major is None:
        raise UsageError(
            f"{path}:1: not a PostgreSQL schema snapshot (no '-- Written on PostgreSQL N' line); "
            "write it with --engine postgresql --write-snapshot"
        )
    major = run.conn.info.server_version // 10000
    differences = describe_drift(expected, parse_snapshot(snapshot_text(run.conn)))
    case = Case("schema snapshot", check, path=str(path))
    if differences:
        more = f" (and {len(differences) - SHOWN} more)" if len(differences) > SHOWN else ""
        message = (
            "the migrations do not produce the committed schema snapshot: "
            + "; ".join(differences[:SHOWN])
            + more
        )
        hint = (
            f"if the change is intended, run python -m ci.apply_empty --engine postgresql "
            f"--schema-snapshot {path} --write-snapshot and commit {path}"
        )
        if expected.major != major:
            hint += (
                f" (it was written on PostgreSQL {expected.major}, this server is {major}: "
                "write it with the server version CI uses)"
            )
        case.findings.append(Finding(check, "MG307", str(path), None, message, hint))
    return case


def committed_snapshot(path: Path) -> str:
    """The text of the committed snapshot; a missing or unreadable file is one line, exit 2."""
    if not path.is_file():
        raise UsageError(f"{path}: schema snapshot not found; create it with --write-snapshot")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the schema snapshot is not UTF-8 text") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read the schema snapshot: {error.strerror}") from None


def _timed(make: object) -> Case:
    started = time.perf_counter()
    case: Case = make()  # type: ignore[operator]
    case.time = time.perf_counter() - started
    return case
