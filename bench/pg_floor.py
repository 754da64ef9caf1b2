"""The floor of a Python tool on PostgreSQL, for bench/pg.py to measure beside ours.

    python bench/pg_floor.py ORDER_FILE URL                          # the bare runner loop
    python bench/pg_floor.py --check ORDER_FILE SERVER_URL           # apply_empty's floor
    python bench/pg_floor.py --round-trip ORDER_FILE SERVER_URL JOBS # the round trip's floor

ORDER_FILE lists the migration files in apply order (main track, then seeds), one path a line;
the rollbacks are the `rollback/NNNN_*.sql` files beside the migrations' folders.

The bare runner loop (context for `ci.migrate --database-url`): on one psycopg connection to
URL's database, create a `schema_version` table, then per file read it, BEGIN, send the whole
file as one simple-protocol query (the server splits it), insert the row, COMMIT. No plan, no
checksums, no gate, no log row, no error handling beyond stopping: what `ci.migrate
--database-url` does on top of this is the runner's own cost.

`--check`, the least a Python check that applies the migrations to an empty database must do
(`ci.apply_empty --engine postgresql`): connect to SERVER_URL's database; CREATE DATABASE
`mgbench_<pid>_floor` TEMPLATE template0 (a check makes its own database); connect to it with
`synchronous_commit = off` (ours sets the same on its throwaway: ci/db/postgres/throwaway.py);
create the `schema_version` table; apply each migration in its own transaction with its row, as
ONE query per migration: the file's text, then the row's INSERT (values written into the text),
sent with the simple protocol, which the server runs as one implicit transaction (a migration
with its own BEGIN/COMMIT or a statement that refuses a transaction block, none in the bench's
corpus, would need more); then close that connection and send `DROP DATABASE ... WITH (FORCE)`
on the first one without waiting for it (ours' `hand_over_drop` does the same, for the same
reason: a drop waits for a checkpoint).

`--round-trip`, the round trip's transactions without fingerprints: on a throwaway database as
above, per main-track migration (seeds are not part of the round trip, as in ours): apply it
with its row (one query), roll it back with its row's DELETE (one query: the rollback file,
then the DELETE), apply it again with its row (one query); a migration without a rollback is
only applied. In JOBS processes, split as ours splits its run (`plan` in
ci/checks/roundtrip_jobs.py, reimplemented here in `parts`): each part on its own throwaway
database applies the migrations before its share plainly and round-trips its share; the first
part runs here, the others in forked processes started before it. bench/pg.py passes ours'
default job count, so the floor and ours split the same work the same way.

What ours does beyond this (the price of being a check and not a loop): it cleans up leftover
throwaway databases and holds an advisory lock that marks its own as alive; it creates the
runner's index and log table; it reads and checks the catalog (numbering, rollbacks,
directives); in each migration's transaction it asks whether the migration was applied
meanwhile, sets the timeouts (SET LOCAL), splits the file into statements and sends them one
by one through the gate (ci.db.postgres.statements), writes the checksums into the row and
reads the row back; after each step it puts the session back as it was (see
ci/db/postgres/runner.py); apply_empty then validates the result (ci.checks.pg_validate); the
round trip reads a fingerprint of the database around every step, in a second session, and
compares them; and it reports every migration as a case with its findings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

TABLE = (
    b"CREATE TABLE schema_version (version integer NOT NULL, migration_type text NOT NULL,"
    b" description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)
ROW = b"INSERT INTO schema_version (version, migration_type, description) VALUES (%s, %s, %s)"
# ci/checks/roundtrip_jobs.py's: below this many round trips a part, one process is faster
MIN_PER_PART = 50


# --- the bare runner loop ------------------------------------------------------------------------


def apply_all(order: list[Path], url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE)
        for path in order:
            number, _, slug = path.stem.partition("_")
            conn.execute(b"BEGIN")
            conn.execute(path.read_bytes())
            conn.execute(ROW, (int(number), path.parent.name, slug))
            conn.execute(b"COMMIT")
    return len(order)


# --- a check's floor: one query per transaction, on a throwaway database -------------------------


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_query(path: Path) -> bytes:
    """The migration and its row's INSERT, one query (one implicit transaction)."""
    number, _, slug = path.stem.partition("_")
    row = (
        "INSERT INTO schema_version (version, migration_type, description) VALUES "
        f"({int(number)}, {literal(path.parent.name)}, {literal(slug)})"
    )
    # a newline first: the file may end in a `--` comment
    return path.read_bytes() + b"\n;\n" + row.encode()


def rollback_query(path: Path, version: int) -> bytes:
    """The rollback and its row's DELETE, one query."""
    delete = f"DELETE FROM schema_version WHERE migration_type <> 'seed' AND version = {version}"
    return path.read_bytes() + b"\n;\n" + delete.encode()


@contextmanager
def throwaway(server_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A new database with the runner's table, as a connection; its DROP sent on leaving."""
    name = f"mgbench_{os.getpid()}_floor"  # a dead pid's: the next bench/pg.py drops it
    admin = psycopg.connect(server_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0'.encode())
    try:
        with psycopg.connect(
            server_url, dbname=name, autocommit=True, options="-c synchronous_commit=off"
        ) as conn:
            conn.execute(TABLE)
            yield conn
    finally:
        admin.pgconn.send_query(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())
        admin.pgconn.flush()
        admin.close()  # no answer read: the server finishes the drop alone


def check(order: list[Path], server_url: str) -> int:
    queries = [apply_query(path) for path in order]
    with throwaway(server_url) as conn:
        for query in queries:
            conn.execute(query)
    return len(queries)


# --- the round trip's floor ----------------------------------------------------------------------


def parts(count: int, jobs: int) -> list[tuple[int, int]]:
    """(start, end) per part: apply migrations [0, start), round-trip [start, end). The cut of
    ci/checks/roundtrip_jobs.py's `plan` for every migration selected: migration i weighs
    i + 1, each part about the same weight, at least MIN_PER_PART round trips a part."""
    wanted = max(1, min(jobs, count // MIN_PER_PART))
    total = sum(range(1, count + 1))
    cuts: list[tuple[int, int]] = []
    start = weight = 0
    for index in range(count):
        weight += index + 1
        if weight >= total * (len(cuts) + 1) / wanted and len(cuts) < wanted - 1:
            cuts.append((start, index + 1))
            start = index + 1
    if start < count or not cuts:
        cuts.append((start, count))
    return cuts


def rollbacks_beside(paths: list[Path]) -> dict[str, Path]:
    """{"0005": path} for the rollback files in the `rollback/` folder beside the migrations'."""
    folder = paths[0].parent.parent / "rollback" if paths else None
    if folder is None or not folder.is_dir():
        return {}
    return {p.name[:4]: p for p in folder.iterdir() if p.suffix == ".sql"}


Step = tuple[bytes, bytes | None]  # the apply query, the rollback query (None: none)


def round_trip_part(steps: list[Step], start: int, end: int, server_url: str) -> None:
    with throwaway(server_url) as conn:
        for apply, _ in steps[:start]:
            conn.execute(apply)
        for apply, rollback in steps[start:end]:
            conn.execute(apply)
            if rollback is not None:
                conn.execute(rollback)
                conn.execute(apply)


def round_trip(order: list[Path], server_url: str, jobs: int) -> int:
    main = [path for path in order if path.parent.name != "seed"]
    rollbacks = rollbacks_beside(main)
    steps: list[Step] = []
    for path in main:
        rollback = rollbacks.get(path.name[:4])
        undo = rollback_query(rollback, int(path.name[:4])) if rollback else None
        steps.append((apply_query(path), undo))
    first, *rest = parts(len(steps), jobs)
    sys.stdout.flush()
    children = []
    for start, end in rest:  # forked before any connection is open
        pid = os.fork()
        if pid == 0:
            os._exit(in_child(steps, start, end, server_url))
        children.append(pid)
    round_trip_part(steps, *first, server_url)
    failed = [pid for pid in children if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])]
    if failed:
        print(f"{len(failed)} of {len(children)} helper processes failed", file=sys.stderr)
        return 1
    return 0


def in_child(steps: list[Step], start: int, end: int, server_url: str) -> int:
    """A helper's part; its exit code (the traceback on stderr if it failed)."""
    try:
        round_trip_part(steps, start, end, server_url)
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1
    return 0


# --- command line --------------------------------------------------------------------------------


def read_order(order_file: str) -> list[Path]:
    return [Path(line) for line in Path(order_file).read_text(encoding="utf-8").splitlines()]


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--check":
        print(f"{check(read_order(argv[1]), argv[2])} migrations applied")
        return 0
    if argv and argv[0] == "--round-trip":
        return round_trip(read_order(argv[1]), argv[2], int(argv[3]))
    order_file, url = argv
    print(f"{apply_all(read_order(order_file), url)} migrations applied")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
