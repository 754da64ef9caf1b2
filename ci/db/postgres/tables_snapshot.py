"""The runner's tables as a few short strings, taken before a migration's SQL and after it, so
that what the gatekeeper cannot see (dynamic SQL: EXECUTE of a string built at run time, in a DO
block, a function or a trigger) cannot change them unnoticed (ci.db.postgres.bookkeeping's
`Tables.snapshot` and `Tables.refuse_changes`). The query is sent and its answer read in two
steps, so the runner can send it with others in one round trip (psycopg's pipeline mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ci.db.outcomes import MigrationFailed
from ci.db.postgres.connect import Cursor
from ci.db.tables import LOG_TABLE, TABLE

IMMEDIATE = "SET CONSTRAINTS ALL IMMEDIATE"  # deferred triggers fire now, not at COMMIT


# The runner's tables as a fingerprint (ONLY: a child table's rows are not the runner's):
# - schema_version: row count and md5 of its rows in key order (~4 ms per 1,000 rows, nearly all
#   of it turning rows into text);
# - schema_version_log: row count, last id and md5 of its dirty marks, open or cleared (a row
#   added, removed, turned into a mark or out of one, a mark opened or cleared all show; the
#   wording of an old history row does not, and needs no text of every row of a log that only
#   grows);
# - the number of triggers and rules on the two tables.
SNAPSHOT = """SELECT
  (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n'
     ORDER BY (t.migration_type = 'seed'), t.version)), '') FROM ONLY {table} t),
  (SELECT count(*) || ':' || coalesce(max(l.id), 0) || ':' || coalesce(md5(string_agg(
     l::text, E'\\n' ORDER BY l.id) FILTER (WHERE l.action = 'dirty')), '') FROM ONLY {log} l),
  (SELECT count(*) FROM pg_trigger WHERE tgrelid IN (to_regclass(%s), to_regclass(%s)))
  || ':' ||
  (SELECT count(*) FROM pg_rewrite WHERE ev_class IN (to_regclass(%s), to_regclass(%s)))"""
# Inside one transaction, cheaper (no row turned into text): the counts, and how many rows (of
# the tables, and of the catalogs of their triggers and rules) this transaction wrote. A row
# inserted or updated since the first age() of a transaction has an xmin no older than the
# transaction's own id (or, before it has one, the next id then), so its age is 0 or less.
# Of the two tables also the md5 of the ctids of the rows this transaction wrote: in a group an
# earlier member's row was written by the same transaction, so an UPDATE of it (or a DELETE and
# an INSERT in its place) keeps both counts; but every new row version gets a new ctid, and a
# live row's ctid never moves inside a transaction.
ROW_AGES = """SELECT
  (SELECT count(*) || ':' || count(*) FILTER (WHERE age(t.xmin) <= 0) || ':' || coalesce(md5(
     string_agg(t.ctid::text, ',' ORDER BY t.ctid) FILTER (WHERE age(t.xmin) <= 0)), '')
   FROM ONLY {table} t),
  (SELECT count(*) || ':' || count(*) FILTER (WHERE age(l.xmin) <= 0) || ':' || coalesce(md5(
     string_agg(l.ctid::text, ',' ORDER BY l.ctid) FILTER (WHERE age(l.xmin) <= 0)), '')
   FROM ONLY {log} l),
  (SELECT count(*) || ':' || count(*) FILTER (WHERE age(xmin) <= 0) FROM pg_trigger
    WHERE tgrelid IN (to_regclass(%s), to_regclass(%s)))
  || ':' ||
  (SELECT count(*) || ':' || count(*) FILTER (WHERE age(xmin) <= 0) FROM pg_rewrite
    WHERE ev_class IN (to_regclass(%s), to_regclass(%s)))"""
SNAPSHOT_PARTS = (
    f"the runner's table {TABLE}",
    f"the runner's table {LOG_TABLE}",
    "the triggers or rules on the runner's tables",
)


class Snapshot(NamedTuple):
    """The runner's tables at one moment (SNAPSHOT): `count:md5` of schema_version's rows,
    `count:last id:md5 of the marks` of schema_version_log, `triggers:rules` on them; or, in
    a transaction (ROW_AGES), their counts and the rows it wrote (and where). Equal
    snapshots: nothing the runner reads changed."""

    table: str
    log: str
    hooks: str
    in_transaction: bool  # taken with ROW_AGES: compare with one of the same transaction


class SnapshotQuery(NamedTuple):
    """A snapshot's query sent (Tables.ask_snapshot), its answer not read yet."""

    cursor: Cursor
    in_transaction: bool


def read_snapshot(query: SnapshotQuery) -> Snapshot:
    row = query.cursor.fetchone()
    assert row is not None
    return Snapshot(str(row[0]), str(row[1]), str(row[2]), query.in_transaction)


def refuse_changed(before: Snapshot, after: Snapshot | None, path: Path | str) -> None:
    """MigrationFailed naming the file when the runner's tables differ between the two
    snapshots (`after` None: one of them was dropped)."""
    if after is None:
        changed = ["dropped one of the runner's tables"]
    else:
        pairs = zip(SNAPSHOT_PARTS, before[:3], after[:3], strict=True)
        changed = [f"changed {name}" for name, was, now in pairs if was != now]
    if changed:
        raise MigrationFailed(
            path,
            None,
            f"{' and '.join(changed)}: refused (a migration's SQL, dynamic SQL "
            "included, must not change the runner's tables: the runner alone records which "
            "migrations ran); the migration was not recorded",
        )
