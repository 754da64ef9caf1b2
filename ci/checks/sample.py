"""Sample data for the database checks: a `.sql` fixture or a copied `.db` file.

A fixture's first line is `-- @sample-version N`: the check migrates a fresh database to N, then
runs the fixture's statements. A database file is copied by its engine (ci.db.engine; SQLite's
backup API from a read-only connection), so the user's file is never opened for writing.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ci.checks.db_options import Options
from ci.checks.validate import apply_case, new_runner, not_run
from ci.core.errors import UsageError
from ci.core.findings import RUNAWAY, Case, Finding
from ci.core.model import OTHER_SPECIAL, Catalog, Migration, SqlFile, special_file_kind
from ci.db import runner
from ci.db.engine import database_of
from ci.db.sqlite import ENGINE as SQLITE

SQLITE_HEADER = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"  # a pg_dump custom-format archive, whatever its name
DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
VERSION_LINE = re.compile(r"^--\s*@sample-version\s+(?P<version>\d+)\s*$")


@dataclass(frozen=True)
class Sample:
    path: Path
    version: int | None = None  # a fixture's @sample-version; None for a database file
    dump: bool = False  # a pg_dump custom-format archive (PostgreSQL's; ci.checks.pg_sample)

    @property
    def is_fixture(self) -> bool:
        return self.version is not None


def open_sample(path: Path) -> Sample:
    """Check the sample before any work; every problem is one UsageError line (exit 2)."""
    not_a_file = not_a_regular_file(path)
    if not_a_file:  # never opened: reading a FIFO would block, a directory cannot be read
        raise UsageError(f"{path}: {not_a_file}")
    if starts_with(path, PG_DUMP_MAGIC):
        raise UsageError(
            f"{path}: a pg_dump archive is a PostgreSQL sample: run the check with "
            "--engine postgresql (and --server-url)"
        )
    suffix = path.suffix.lower()
    if suffix not in (".sql", *DATABASE_SUFFIXES):
        raise UsageError(f"{path}: a sample is a .sql fixture or a .db/.sqlite database")
    if path.stat().st_size == 0:
        what = "fixture" if suffix == ".sql" else "database"
        raise UsageError(
            f"{path}: the sample {what} is empty (0 bytes); point --sample at a real database "
            "(.db/.sqlite) or at a .sql fixture starting with '-- @sample-version N'"
        )
    if suffix == ".sql":
        return Sample(path, fixture_version(path))
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise UsageError(f"{path}: cannot read the sample: {error.strerror}") from None
    if header != SQLITE_HEADER:
        raise UsageError(f"{path}: not a SQLite database")
    return Sample(path)


def starts_with(path: Path, magic: bytes) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError as error:
        raise UsageError(f"{path}: cannot read the sample: {error.strerror}") from None


def not_a_regular_file(path: Path) -> str | None:
    """Why `path` cannot be a sample without opening it (None for a regular file)."""
    try:
        kind = special_file_kind(path)
    except OSError as error:
        if path.is_symlink():
            target = os.readlink(path)
            return f"the sample is a broken symbolic link (to {target}: {error.strerror})"
        if error.errno == errno.ENOENT:
            return "sample not found"
        return f"cannot read the sample: {error.strerror}"
    if kind is None:
        return None
    if kind == OTHER_SPECIAL:
        kind = f"not a regular file ({kind})"
    return f"the sample is {kind}; --sample takes a .sql fixture or a .db/.sqlite file"


def fixture_version(path: Path) -> int:
    text = SqlFile(path).text
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    match = VERSION_LINE.match(first)
    if match is None:
        raise UsageError(
            f"{path}:1: a sample fixture starts with '-- @sample-version N' "
            "(the migration the data fits)"
        )
    return int(match["version"])


@dataclass
class Prepared:
    """A check's private database holding the sample, and what it took to get there."""

    conn: sqlite3.Connection
    run: runner.Runner
    cases: list[Case]

    @property
    def failed(self) -> bool:
        return any(c.outcome in ("failed", "error") for c in self.cases)


def prepare(
    check: str,
    sample: Sample,
    db: Path,
    catalog: Catalog,
    options: Options,
    *,
    classname: str | None = None,
) -> Prepared:
    """The sample in a private database at `db`: a copy of the file, or the migrations up to
    the fixture's version plus the fixture's rows."""
    # the runner drives a sqlite3 connection until it takes a Database (ci.db.engine): the
    # check's private database is SQLite's, opened through that engine
    if not sample.is_fixture:
        SQLITE.clone(sample.path, db, timeout=options.busy_timeout)
    conn = SQLITE.connect_throwaway(db, setup=options.setup).conn
    run = new_runner(conn, catalog, options)
    if not sample.is_fixture:
        return Prepared(conn, run, [])
    assert sample.version is not None
    if sample.version > catalog.head:
        conn.close()
        raise UsageError(
            f"{sample.path}:1: @sample-version {sample.version} but the highest migration is "
            f"{catalog.head:04d}"
        )
    cases: list[Case] = []
    setup = [m for m in catalog.main if m.version <= sample.version]
    for index, migration in enumerate(setup):
        case = apply_case(check, run, migration, options, classname)
        cases.append(case)
        if case.outcome == "failed":
            why = f"not run: {migration.label} failed"
            cases += not_run(check, catalog, setup[index + 1 :], why)
            return Prepared(conn, run, cases)
    cases.append(load_fixture(check, run, sample, classname))
    return Prepared(conn, run, cases)


def load_fixture(check: str, run: runner.Runner, sample: Sample, classname: str | None) -> Case:
    """Run the fixture's statements in one transaction; a failure names its line. The whole
    fixture gets the --statement-timeout one migration gets (MG311 naming the line)."""
    case = Case(f"sample {sample.path}", classname or check, path=str(sample.path))
    database = database_of(run.conn)
    gate = database.gate()  # the migrations' rules: BEGIN/COMMIT ignored, pragmas listed
    database.begin()  # the fixture loads in one transaction of ours
    run.start_clock()
    for statement in SqlFile(sample.path).statements:
        try:
            with run.limited(sample.path, statement.line):
                refused = gate.execute(statement)
        except runner.Runaway as failure:
            database.rollback()
            case.line = statement.line
            case.findings.append(
                Finding(check, RUNAWAY, str(sample.path), statement.line, failure.message,
                        failure.hint)
            )  # fmt: skip
            return case
        except database.error as error:
            refused = str(error)
        if refused is not None:
            database.rollback()
            case.line = statement.line
            case.findings.append(
                Finding(
                    check,
                    "MG309",
                    str(sample.path),
                    statement.line,
                    f"the sample fixture does not load at version {sample.version:04d}: {refused}",
                    "make the fixture fit the schema of its @sample-version",
                )
            )
            return case
    database.commit()
    return case


def pending(prepared: Prepared) -> list[Migration]:
    return prepared.run.pending()
