"""The precheck (`python -m ci.precheck --db PATH`): is this database fit to migrate?
integrity_check, foreign_key_check, size, journal mode, dirty marks. Read-only: the database is
opened with `mode=ro` and never written. With `--database-url` the database is PostgreSQL's
(`postgres_precheck`): invalid indexes, constraints never validated, orphans of unvalidated
foreign keys, amcheck where the database has it, dirty marks; read-only too.

`--export-stats FILE` also writes the database's per-table row and page counts, no data
(ci.db.prodstats), for `apply_sample --prod-stats FILE` to scale its timings to production. FILE
goes through the guard --junit uses (ci.reports.outputs): never the database or its -wal/-journal/
-shm, never an existing file other than an empty one or a previous stats file.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from ci.checks.base import Check
from ci.checks.database import (
    FOREIGN_KEYS,
    INTEGRITY,
    OPTIONS,
    dirty_case,
    inspected,
    main_version,
    postgres_url,
)
from ci.checks.options import Option
from ci.core.errors import UsageError
from ci.core.findings import Report
from ci.db import health, prodstats

NAME = "precheck"


def precheck(conn: sqlite3.Connection, path: Path, stats: Path | None = None) -> Report:
    db = str(path)
    cases = [
        health.integrity_case(NAME, conn, db, INTEGRITY, verify_checks=True),
        health.foreign_key_case(NAME, conn, db, FOREIGN_KEYS),
    ]
    cases.append(dirty_case(NAME, conn, db))
    print(describe(conn, path))
    if stats is not None:
        export_stats(conn, stats)
    return Report(NAME, cases)


def export_stats(conn: sqlite3.Connection, out: Path) -> None:
    """Write the row and page counts of the database on `conn` to `out` (whole or not at all)."""
    document = prodstats.collect(conn, main_version(conn)[0])
    from ci.reports import outputs

    try:  # whole or not at all; the guard is asked again: the file may have appeared meanwhile
        outputs.write_atomically(out, prodstats.dumps(document), refused=stats_refusal(out, None))
    except outputs.OutputRefused as refused:
        raise UsageError(str(refused)) from None
    except OSError as error:
        raise UsageError(f"{out}: cannot write the stats file: {error.strerror}") from None
    tables = document["tables"]
    assert isinstance(tables, dict)
    print(
        f"{out}: row and page counts of {len(tables)} tables (pages from "
        f"{document['pages_from']}), no data",
        file=sys.stderr,
    )


def postgres_precheck(url: str, *, busy_timeout: float) -> Report:
    """The precheck of the PostgreSQL database at `url`, read-only."""
    from ci.checks import database_postgres as pg

    with pg.opened(url, busy_timeout=busy_timeout) as db:
        print(pg.describe(db))
        return Report(
            NAME,
            [
                health.integrity_case(NAME, db, db.where, pg.INTEGRITY),
                health.foreign_key_case(NAME, db, db.where, pg.FOREIGN_KEYS),
                pg.amcheck_case(NAME, db, pg.INTEGRITY.code),
                pg.dirty_case(NAME, db),
            ],
        )


def run(args: argparse.Namespace) -> Report:
    url = postgres_url(args)
    if url is not None:
        if args.export_stats is not None:
            raise UsageError("--export-stats is for SQLite databases only for now")
        return postgres_precheck(url, busy_timeout=args.busy_timeout)
    stats: Path | None = args.export_stats
    if stats is not None:
        if _same_file(stats, args.db):
            raise UsageError(f"{stats}: --export-stats needs a file of its own, not the database")
        refused = stats_refusal(stats, args.db, getattr(args, "migrations_dir", None))
        if refused is not None:
            raise UsageError(refused)
    return inspected(args, lambda conn: precheck(conn, args.db, stats))


def stats_refusal(path: Path, db: Path | None, migrations_dir: Path | None = None) -> str | None:
    """Why --export-stats must not write `path`, in one line, or None: the guard --junit uses
    (ci.reports.outputs), with the database's own files as inputs. An existing file is replaced
    only when it is empty or a previous stats file (its first key is the stats format); SQLite's
    -wal, -journal and -shm beside the database are refused even when empty: replacing them
    loses committed transactions or a crash's recovery."""
    from ci.reports import outputs

    for companion in _database_files(db):
        if companion.name.endswith(SQLITE_COMPANIONS) and _same_path(companion, path):
            return (
                f"--export-stats {path}: that is a file SQLite keeps beside the database "
                "(its journal or write-ahead log); give another path"
            )
    return outputs.refusal(
        path,
        option="--export-stats",
        kind="a stats file",
        starts=STATS_STARTS,
        inputs=_database_files(db),
        migrations_dir=migrations_dir,
    )


# How a stats file begins: its first key, as prodstats.dumps writes it, indented or compact.
STATS_STARTS = tuple(
    f'{{{space}"format":{after}"{prodstats.FORMAT}"'.encode()
    for space in ("", "\n  ", "\n    ", "\n\t", " ")
    for after in ("", " ")
)


def _database_files(db: Path | None) -> list[Path]:
    """The database and the files SQLite keeps beside it, under its given and its real name."""
    if db is None:
        return []
    names = {db, Path(os.path.realpath(db))}
    return [Path(f"{name}{suffix}") for name in names for suffix in ("", *SQLITE_COMPANIONS)]


SQLITE_COMPANIONS = ("-wal", "-journal", "-shm")


def _same_path(a: Path, b: Path) -> bool:
    """The same name once symlinks are followed, or the same file (a hard link)."""
    return os.path.realpath(a) == os.path.realpath(b) or _same_file(a, b)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def describe(conn: sqlite3.Connection, db: Path) -> str:
    """Size, journal mode and version, for the log (the seed's 'DB size')."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    version, applied = main_version(conn)
    size = db.stat().st_size
    return (
        f"{db}: {size:,} bytes ({pages:,} pages of {page_size:,}, {free:,} free), "
        f"journal_mode={mode}, schema_version {version:04d} ({applied} applied)"
    )


CHECK = Check(
    NAME,
    "Check a database before migrating it: integrity, foreign keys, size, dirty marks.",
    (
        *OPTIONS,
        Option(
            "--export-stats",
            type=Path,
            default=None,
            metavar="FILE",
            help="also write per-table row and page counts (no data) as JSON, for "
            "apply_sample --prod-stats",
        ),
    ),
    run,
    reads_migrations=False,
)
