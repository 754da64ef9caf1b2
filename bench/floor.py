"""The floor of any Python tool doing each budgeted job, for bench/run.py to measure beside ours.

    python bench/floor.py ORDER_FILE DB [--durable | --round-trip]   # apply the migrations
    python bench/floor.py --numbering MIGRATIONS_DIR                  # check the numbering
    python bench/floor.py --checksums MIGRATIONS_DIR LOCK_FILE        # compare with the lock
    python bench/floor.py --status MIGRATIONS_DIR DB                  # applied / pending counts

Applying: ORDER_FILE lists the migration files in apply order, one path per line. Every file is
read and split into statements at the semicolons where `sqlite3.complete_statement` says one
ends; then each is applied in its own BEGIN IMMEDIATE ... COMMIT with its `schema_version`
row; with `--durable`, also its `schema_version_log` row, on a file with SQLite's
default (durable) commits. Without it, the database is opened the way a check opens its
throwaway one (no fsync). With `--round-trip`, each main-track migration that has a rollback
(`rollback/NNNN_*.sql` beside its folder) is then rolled back (its statements and the row's
DELETE, in one transaction) and applied again, as the round trip does, without the fingerprints.

Start-up jobs (no `sqlite3` import except for `--status`, which must read the table):
- `--numbering` lists the track folders (`schema/`, `data/`, `seed/`, `rollback/`), takes each
  name's number and reports numbers used twice, gaps in the main track and the seed track, and
  rollbacks without a migration. It opens no file: a tool can tell all of that from the names
  (ours opens a migration only when it has no rollback, to look for `@irreversible`; the bench's
  corpus has a rollback for every one).
- `--checksums` reads the lock file (`path v1:<sha256>` per line), then reads and hashes every
  migration file (BOM dropped, CRLF and CR as LF: the `v1:` checksum) and compares: files that
  changed, files missing from the lock, entries without a file.
- `--status` lists the track folders, reads `schema_version` once (read-only) and prints how many
  migrations are applied and pending per track. It hashes no file: ours also tells whether an
  applied file was edited since, which a status without that verdict does not need.

That is all: no configuration, no checks beyond these, no handling of a failure, no report
format. What ours costs above this is the price of being a tool rather than a loop; what this
costs above the budgets' baselines is the price of doing the job in Python at all.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # not `from typing import ...`: typing costs ~2 ms of a start-up floor
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

TRACKS = ("schema", "data", "seed")  # the main track's two folders, then the seeds
THROWAWAY = (
    "PRAGMA synchronous = OFF",
    "PRAGMA journal_mode = MEMORY",
    "PRAGMA locking_mode = EXCLUSIVE",
)
NOW = "2026-01-01T00:00:00.000Z"  # a constant: the floor does not even read the clock


# --- start-up jobs -------------------------------------------------------------------------------


def sql_names(root: str, folder: str) -> list[str]:
    path = os.path.join(root, folder)
    return (
        [name for name in os.listdir(path) if name.endswith(".sql")] if os.path.isdir(path) else []
    )


def number(name: str) -> int:
    return int(name.partition("_")[0])


def numbering(root: str) -> int:
    main = [number(name) for folder in TRACKS[:2] for name in sql_names(root, folder)]
    seeds = [number(name) for name in sql_names(root, "seed")]
    rollbacks = [number(name) for name in sql_names(root, "rollback")]
    problems = 0
    for numbers in (main, seeds):
        problems += len(numbers) - len(set(numbers))  # a number used twice
        problems += len(set(range(1, len(numbers) + 1)) - set(numbers))  # gaps
    problems += len(set(rollbacks) - set(main))  # a rollback of nothing
    print(f"numbering: {len(main)} migrations, {len(seeds)} seeds, {problems} problems")
    return 1 if problems else 0


def sha256_function() -> Any:
    """CPython's built-in sha256 (`_sha2` from 3.12, `_sha256` before): hashlib would also load
    OpenSSL, a few ms of start-up the job does not need."""
    for module, name in (("_sha2", "sha256"), ("_sha256", "sha256")):
        try:
            return getattr(__import__(module), name)
        except ImportError:
            continue
    import hashlib

    return hashlib.sha256


def checksums(root: str, lock_path: str) -> int:
    with open(lock_path, encoding="utf-8") as file:
        lines = file.read().splitlines()[1:]  # the first line is the header
    expected = dict(line.split()[:2] for line in lines if line.strip())
    sha256 = sha256_function()
    changed = missing = 0
    for folder in TRACKS:
        for name in sql_names(root, folder):
            with open(os.path.join(root, folder, name), "rb") as file:
                data = file.read()
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            recorded = expected.pop(f"{folder}/{name}", None)
            if recorded is None:
                missing += 1
            elif recorded != "v1:" + sha256(data).hexdigest():
                changed += 1
    print(
        f"checksums: {changed} changed, {missing} not in the lock, {len(expected)} without a file"
    )
    return 1 if changed or missing or expected else 0


def status(root: str, db: str) -> int:
    import sqlite3

    files = {
        (folder == "seed", number(name)) for folder in TRACKS for name in sql_names(root, folder)
    }
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    applied = set(conn.execute("SELECT migration_type = 'seed', version FROM schema_version"))
    conn.close()
    for seed, track in ((False, "main"), (True, "seed")):
        done = sum(1 for key in applied if key[0] == seed)
        pending = sum(1 for key in files - applied if key[0] == seed)
        print(f"{track}: {done} applied, {pending} pending")
    return 0


# --- applying ------------------------------------------------------------------------------------


def statements_of(path: str) -> list[str]:
    from ci.core.sqltext import split_statements

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
    from ci.db.tables import LOG, RECORD, UNRECORD

    rollbacks = rollbacks_beside(paths) if round_trip else {}
    plan = []
    for path in paths:
        folder, name = path.rsplit("/", 2)[-2:]
        rollback_path = rollbacks.get(name[:4]) if folder != "seed" else None
        rollback = statements_of(rollback_path) if rollback_path else None
        plan.append((int(name[:4]), folder, name[5:-4], statements_of(path), rollback))
    for version, kind, slug, statements, rollback in plan:
        apply(conn, (version, kind, slug), statements, (RECORD, LOG if durable else None))
        if rollback is not None:
            conn.execute("BEGIN IMMEDIATE")
            for sql in rollback:
                conn.execute(sql)
            conn.execute(UNRECORD, (kind == "seed", version))
            conn.execute("COMMIT")
            apply(conn, (version, kind, slug), statements, (RECORD, LOG if durable else None))


def apply(
    conn: sqlite3.Connection,
    what: tuple[int, str, str],
    statements: list[str],
    sql: tuple[str, str | None],
) -> None:
    """One migration in its transaction; `sql`: the schema_version row's INSERT, and the log
    row's (durable runs only)."""
    (version, kind, slug), (record, log) = what, sql
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    before = conn.total_changes
    for sql in statements:
        conn.execute(sql)
    rows = conn.total_changes - before
    ms = int((time.perf_counter() - started) * 1000)
    conn.execute(record, (version, kind, slug, None, NOW, ms, rows, "floor", None))
    if log:
        conn.execute(log, (NOW, "apply", version, kind, slug, None, ms, rows, None, "floor"))
    conn.execute("COMMIT")


def apply_main(order: str, db: str, flags: list[str]) -> int:
    import sqlite3

    from ci.db.tables import CREATE_INDEX, CREATE_LOG, CREATE_TABLE

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


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--numbering":
        return numbering(argv[1])
    if argv and argv[0] == "--checksums":
        return checksums(argv[1], argv[2])
    if argv and argv[0] == "--status":
        return status(argv[1], argv[2])
    order, db, *flags = argv
    return apply_main(order, db, flags)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
