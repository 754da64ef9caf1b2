"""`@batch N` migrations: one DML statement repeated with `:batch_size` = N, committing after
each batch, until it changes no row (SPEC 4, large data).

A dirty mark in `schema_version_log` is opened before the first batch and carries the rows done,
updated in the same transaction as each batch; so after a crash (even `kill -9`) the database
says exactly how far it got, and `--resume` simply continues: the statement's own WHERE clause
skips rows that are already done. The `schema_version` row is written in the last transaction,
the one in which the statement changed nothing. Nothing is fetched, so memory stays flat.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING

from ci import bookkeeping
from ci.progress import Progress

if TYPE_CHECKING:
    from ci.model import Migration
    from ci.runner import Outcome, Runner


def apply_batch(runner: Runner, migration: Migration, *, resume: bool = False) -> Outcome:
    from ci.runner import MigrationFailed, Outcome

    entry = runner.entry(migration)
    file = migration.file
    statement = file.statements[0]
    size = migration.directives.batch or 1
    conn = runner.conn
    started = time.perf_counter()
    with runner.guard():
        mark = runner.open_or_reuse_mark(entry, resume=resume)
        if mark is None:
            return Outcome(migration, "skipped", 0, 0.0)
        done = mark.rows_done
        try:
            total = _total(runner, migration)
        except MigrationFailed as failure:
            runner.fail_mark(mark, entry, failure)
            raise
        # with foreign keys enforced SQLite checks every batch itself (deferred ones at COMMIT);
        # only with them OFF is a foreign_key_check (a scan of every table) needed at the end
        enforced = runner.foreign_keys_enforced()
        progress = Progress(runner.out, f"{migration.label} {migration.slug}", total,
                            interval=runner.progress_interval)  # fmt: skip
        committed = done

        def what_ran() -> str:
            # an error about the database file (locked, disk full) leaves the finished batches
            # committed and counted in the mark, the one in progress rolled back
            return f"{committed:,} rows done, each finished batch committed"

        with runner.says_dirty_if_stopped(migration, what_ran, "it continues where it stopped"):
            while True:
                runner.begin()
                try:
                    before = conn.total_changes
                    runner.execute_statement(file, statement, {"batch_size": size})
                    changed = conn.total_changes - before
                    if changed:
                        done += changed
                        bookkeeping.update_mark(conn, mark.id, rows=done)
                        runner.commit(file)
                        committed = done
                        progress.update(changed)
                        continue
                    if not enforced:
                        runner.foreign_key_check(file)
                    seconds = time.perf_counter() - started
                    ms = int(seconds * 1000)
                    bookkeeping.record(conn, entry, ms=ms, rows=done)
                    bookkeeping.clear_mark(conn, mark.id)
                    bookkeeping.log(conn, "apply", entry, ms=ms, rows=done)
                    runner.commit(file)
                    break
                except MigrationFailed as failure:
                    runner.rollback_quietly()
                    runner.fail_mark(mark, entry, failure)
                    raise
                except BaseException:
                    runner.rollback_quietly()
                    raise
        progress.finish()
    return Outcome(migration, "applied", done, seconds)


def _total(runner: Runner, migration: Migration) -> int | None:
    """The @progress query's answer: the rows still to change when this run starts."""
    from ci.runner import MigrationFailed

    query = migration.directives.progress
    if not query:
        return None
    line = next(
        (n for n, text in enumerate(migration.file.text.split("\n"), 1) if "@progress" in text),
        None,
    )
    try:
        row = runner.conn.execute(query).fetchone()
    except sqlite3.Error as error:
        raise MigrationFailed(migration.path, line, f"@progress query failed: {error}") from None
    if row is None or not isinstance(row[0], int):
        raise MigrationFailed(migration.path, line, "@progress query must return one number")
    return int(row[0])
