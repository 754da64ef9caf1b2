"""The floor of any Python migration runner, for bench/run.py to measure beside ours.

    python bench/floor.py ORDER_FILE DB [--durable | --round-trip]

ORDER_FILE lists the migration files in apply order, one path per line. Every file is read and
split into statements at the semicolons where `sqlite3.complete_statement` says one ends
; then each is applied in its own BEGIN IMMEDIATE ... COMMIT with its `schema_version`
row; with `--durable`, also its `schema_version_log` row, on a file with SQLite's
default (durable) commits. Without it, the database is opened the way a check opens its
throwaway one (no fsync). With `--round-trip`, each main-track migration that has a rollback
(`rollback/NNNN_*.sql` beside its folder) is then rolled back (its statements and the row's
DELETE, in one transaction) and applied again, as the round trip does, without the fingerprints.

That is all: no checks of files or of the database, no handling of a failure, no report. What
ci.migrate and ci.apply_empty cost above this is the price of being a tool rather than a loop;
what this costs above the budgets' baselines is the price of doing it in Python.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time

from ci.core.sqltext import split_statements
from ci.db.bookkeeping import CREATE_INDEX, CREATE_LOG, CREATE_TABLE, LOG, RECORD, UNRECORD

THROWAWAY = (
    "PRAGMA synchronous = OFF",
    "PRAGMA journal_mode = MEMORY",
    "PRAGMA locking_mode = EXCLUSIVE",
)
NOW = "2026-01-01T00:00:00.000Z"  # a constant: the floor does not even read the clock


def statements_of(path: str) -> list[str]:
    with open(path, encoding="utf-8") as file:
        return [statement.sql for statement in split_statements(file.read())]


def rollbacks_beside(paths: list[str]) -> dict[str, str]:
    """{"0005": path} for the rollback files in the `rollback/` folder beside the migrations'."""
    if not paths:
        return {}
    folder = os.path.join(os.path.dirname(os.path.dirname(paths[0])), "rollback")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return {name[:4]: os.path.join(folder, name) for name in names if name.endswith(".sql")}


def apply_all(
    paths: list[str], conn: sqlite3.Connection, *, durable: bool, round_trip: bool
) -> None:
    # every file read and split first: between SQLite's statements, the same work costs more
    # (see ci.core.model.read_ahead), and the floor is the cheapest way to do it
    rollbacks = rollbacks_beside(paths) if round_trip else {}
    plan = []
    for path in paths:
        folder, name = path.rsplit("/", 2)[-2:]
        rollback_path = rollbacks.get(name[:4]) if folder != "seed" else None
        rollback = statements_of(rollback_path) if rollback_path else None
        plan.append((int(name[:4]), folder, name[5:-4], statements_of(path), rollback))
    for version, kind, slug, statements, rollback in plan:
        apply(conn, (version, kind, slug), statements, durable=durable)
        if rollback is not None:
            conn.execute("BEGIN IMMEDIATE")
            for sql in rollback:
                conn.execute(sql)
            conn.execute(UNRECORD, (kind == "seed", version))
            conn.execute("COMMIT")
            apply(conn, (version, kind, slug), statements, durable=durable)


def apply(
    conn: sqlite3.Connection, what: tuple[int, str, str], statements: list[str], *, durable: bool
) -> None:
    version, kind, slug = what
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    before = conn.total_changes
    for sql in statements:
        conn.execute(sql)
    rows = conn.total_changes - before
    ms = int((time.perf_counter() - started) * 1000)
    conn.execute(RECORD, (version, kind, slug, None, NOW, ms, rows, "floor", None))
    if durable:
        conn.execute(LOG, (NOW, "apply", version, kind, slug, None, ms, rows, None, "floor"))
    conn.execute("COMMIT")


def main(argv: list[str]) -> int:
    order, db, *flags = argv
    durable = "--durable" in flags
    with open(order, encoding="utf-8") as file:
        paths = [line for line in file.read().splitlines() if line]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for pragma in () if durable else THROWAWAY:
        conn.execute(pragma)
    conn.execute(CREATE_TABLE.format(extra=""))
    conn.execute(CREATE_INDEX)
    conn.execute(CREATE_LOG)
    apply_all(paths, conn, durable=durable, round_trip="--round-trip" in flags)
    conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
