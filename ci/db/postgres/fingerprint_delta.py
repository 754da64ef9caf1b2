"""Fingerprints of one database read again and again (the rollback round trip reads three per
migration): each read after the first reads only what may have changed since the one before,
and takes the rest from it. The result is the Fingerprint a whole read gives
(ci.db.postgres.fingerprint): the round trip compares and words it the same way.

What may have changed is asked of the catalog in one query that calls no deparser: per group
(a relation, a type, a routine: its *owner*) how many catalog rows it is read from (columns,
defaults, indexes, constraints, triggers, policies, rules, statistics, a sequence's OWNED BY,
enum labels, ...) and whether one of them was written by a transaction the last read's snapshot
did not see (`xmin`): a row written again or added has, and a removal leaves fewer rows unless
another was added. The server compares the counts with the last read's (sent along) and
answers only the owners that changed. A group whose rows nobody wrote reads as it did, except
where it prints another group's name (a view its tables', a foreign key its parent's, a column
default its sequence's, a trigger its function's): so a group is also read again when a group
it depends on (pg_depend, kept from the read that last read it) changed. Those groups are read
with the whole read's queries, limited to them. A change outside the groups (schemas,
extensions and their members, collations, event triggers, languages, roles, comments) makes
the read a whole one.

Sequence values (nextval, setval) write no catalog row: every read reads them all.
Rows: a table's rows are read again when its group changed or the server's statistics count a
row inserted, updated or deleted in it since (the session's pending counts are flushed first,
`pg_stat_force_next_flush`). When the counts cannot be trusted (`track_counts` off, or another
client session connected to the database, whose counts reach the server late), every table's
rows are read, as a whole read does. A read inside the caller's transaction, or on a server
before PostgreSQL 15, is always a whole read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ci.db.fingerprint_records import Fingerprint, TablePrint
from ci.db.postgres.fingerprint import (
    SETTINGS,
    Only,
    group_print,
    read_catalog,
    with_sequence_values,
)
from ci.db.postgres.fingerprint_data import DataTable, read_data
from ci.db.postgres.fingerprint_signatures import (
    CATALOGS,
    KIND_PARTS,
    KINDS,
    PART_CATALOGS,
    ROWS,
    WORLD,
    Owner,
    edges_query,
    keys_query,
    owner_params,
    signatures_query,
)

if TYPE_CHECKING:
    import psycopg

    from ci.db.postgres.fingerprint_data import Cursor


# the first transaction a read's snapshot did not see, and those it saw running (HORIZON):
# transaction numbers (xid), in text
Horizon = tuple[str, list[str]]
# for a first read (any: it counts every owner anew, whether its rows are new or not)
BEGINNING: Horizon = ("3", [])


@dataclass
class Read:
    """What the last read found, for the next to start from."""

    world: str
    horizon: Horizon  # the transactions its snapshot did not see
    parts: list[dict[int, int]]  # per part of ROWS: how many rows each owner (OID) has there
    written: dict[Owner, int]  # rows written in each plain table and catalog so far
    edges: dict[Owner, set[Owner]] = field(default_factory=dict)  # the owners each depends on
    keys: dict[Owner, str] = field(default_factory=dict)  # each owner's group key
    tables: dict[Owner, DataTable] = field(default_factory=dict)  # tables whose rows were read
    groups: dict[str, TablePrint] = field(default_factory=dict)


def read_parts(
    cursor: Cursor, parts: list[int], counts: list[dict[int, int]], horizon: Horizon
) -> set[Owner]:
    """Bring `counts` (per part of ROWS, {OID: rows}: the last read's, or none) up to date in
    the given parts and return the owners whose rows there changed since the last read, whose
    snapshot had `horizon` (signatures_query)."""
    params = {
        "horizon": horizon[0],
        "running": horizon[1],
        "parts": array_literal(i for i in parts for _ in range(len(counts[i]))),
        "owners": array_literal(oid for i in parts for oid in counts[i]),
        "counts": array_literal(n for i in parts for n in counts[i].values()),
    }
    moved: set[Owner] = set()
    for part, oid, count in cursor.execute(signatures_query(parts), params):
        moved.add(f"{KINDS[part]}{oid}")
        if count is None:  # (only an owner the last read counted there)
            del counts[part][oid]
        else:
            counts[part][oid] = count
    return moved


def array_literal(numbers: Iterable[int]) -> str:
    """Numbers as the text of a PostgreSQL array, '{1,2,3}', which the query casts: psycopg
    dumps a list one element at a time (a regular expression each), and the last read's counts
    are thousands of numbers at 1,000 migrations, three times a migration."""
    return "{" + ",".join(map(str, numbers)) + "}"


def present(owner: Owner, counts: list[dict[int, int]]) -> bool:
    """Whether the owner still has a row in one of its parts of ROWS."""
    oid = int(owner[1:])
    return any(oid in counts[i] for i in KIND_PARTS[owner[0]])


class Fingerprints:
    """`read()` the fingerprint of the database of `conn` (schema and every table's rows), as
    ci.db.postgres.fingerprint.fingerprint does, reading only what changed since the last.

    `reader`: a second session on the same database that only reads, where the reads run. Its
    server keeps their queries planned (prepared statements, one generic plan each: planning
    a catalog query costs more than running it on a few groups), which `conn`'s would not: the
    runner resets its session after each migration (DEALLOCATE ALL). It sees what `conn`
    committed; a read while `conn` is in a transaction is a whole one on `conn`. If a migration
    ends the reader's session, the reads go on on `conn`."""

    def __init__(
        self, conn: psycopg.Connection[Any], reader: psycopg.Connection[Any] | None = None
    ) -> None:
        self.conn = conn
        self.reader = reader
        self.last: Read | None = None
        self.followable = conn.info.server_version >= 150000  # pg_stat_force_next_flush

    def read(self) -> Fingerprint:
        from psycopg import OperationalError, pq
        from psycopg.rows import tuple_row

        from ci.db.postgres.fingerprint import fingerprint

        idle = self.conn.info.transaction_status == pq.TransactionStatus.IDLE
        if not (self.followable and idle and self.conn.autocommit):
            self.last = None
            return fingerprint(self.conn)
        self.conn.execute("SELECT pg_stat_force_next_flush()")  # counts flushed when idle
        session = self.reader or self.conn
        # the reader's transaction (read only: it cannot change anything) ends in a COMMIT:
        # psycopg forgets its prepared statements on a ROLLBACK
        try:
            with (
                session.transaction(force_rollback=session is self.conn),
                session.cursor(row_factory=tuple_row) as cursor,
            ):
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                self.last = self._read(cursor)
        except OperationalError:
            if session is self.conn or not session.broken:
                raise
            self.reader, self.last = None, None  # its session ended: read on `conn`
            return self.read()
        return Fingerprint(dict(self.last.groups))

    def _read(self, cursor: Cursor) -> Read:
        # one round trip: WORLD and the settings of the read (ci.db.postgres.fingerprint's)
        calls = ", ".join(["set_config(%s, %s, true)"] * len(SETTINGS))
        values = [v for item in SETTINGS.items() for v in item]
        writer = self.conn.info.backend_pid  # its counts are flushed: see WORLD
        query = f"SELECT w.*, {calls} FROM ({WORLD}) AS w"
        row = cursor.execute(query, [*values, writer]).fetchone()  # in the order of the text
        assert row is not None
        world, counted, written = str(row[0]), bool(row[1]), dict(row[2] or {})
        horizon = (str(row[3]), [str(xid) for xid in row[4]])
        last = self.last
        if last is None or last.world != world or not counted:
            now = Read(world, horizon, [{} for _ in ROWS], written)
            read_parts(cursor, list(range(len(ROWS))), now.parts, BEGINNING)
            return whole(cursor, now)
        stale = [
            i
            for i, catalogs in enumerate(CATALOGS)
            if any(written.get(name) != last.written.get(name) for name in catalogs)
        ]
        # the parts read again are copies: `last` stays as it was if this read fails
        parts = [dict(part) if i in stale else part for i, part in enumerate(last.parts)]
        now = Read(world, horizon, parts, written)
        moved = read_parts(cursor, stale, parts, last.horizon) if stale else set()
        # a group prints the names of those it depends on: read again when one of them moved
        dependents = (
            {o for o, refs in last.edges.items() if not refs.isdisjoint(moved)} if moved else set()
        )
        changed = {o for o in moved | dependents if present(o, parts)}
        now.keys, now.tables, now.groups = dict(last.keys), dict(last.tables), dict(last.groups)
        now.edges = dict(last.edges)
        for owner in moved | changed:  # (an owner that moved and is no more: dropped)
            now.groups.pop(now.keys.pop(owner, ""), None)
            now.tables.pop(owner, None)
            now.edges.pop(owner, None)
        rewritten = [
            table
            for owner, table in now.tables.items()
            if not counted or written.get(owner) != last.written.get(owner)
        ]
        reread(cursor, now, changed, rewritten)
        with_sequence_values(cursor, now.groups)
        return now


def whole(cursor: Cursor, now: Read) -> Read:
    """Every group read, and every table's rows."""
    groups, tables = read_catalog(cursor)
    data = read_data(cursor, tables, content=True)
    now.groups = {key: group_print(key, group, data) for key, group in groups.items()}
    now.keys = dict(cursor.execute(keys_query(None)).fetchall())
    by_key = {key: owner for owner, key in now.keys.items()}
    now.tables = {by_key[table[0]]: table for table in tables}
    now.edges = read_edges(cursor, None)
    with_sequence_values(cursor, now.groups)
    return now


def read_edges(
    cursor: Cursor, owners: set[Owner] | None, catalogs: Collection[str] | None = None
) -> dict[Owner, set[Owner]]:
    edges: dict[Owner, set[Owner]] = {}
    if owners is not None and not owners:
        return edges
    query = edges_query(owners, catalogs)
    for owner, ref in cursor.execute(query, owner_params(owners)).fetchall():
        edges.setdefault(owner, set()).add(ref)
    return edges


def reread(cursor: Cursor, now: Read, changed: set[Owner], rewritten: list[DataTable]) -> None:
    """Read the `changed` groups again (the rows of their tables too), and the rows of the
    `rewritten` tables."""
    tables: list[DataTable] = []
    groups = None
    if changed:

        def of(kind: str) -> list[int]:
            return [int(o[1:]) for o in changed if o[0] == kind]

        # the catalogs the changed groups have rows in: the queries of the others find nothing
        catalogs = {
            PART_CATALOGS[i]
            for i, part in enumerate(now.parts)
            if any(o[0] == KINDS[i] and int(o[1:]) in part for o in changed)
        }
        groups, tables = read_catalog(cursor, Only(of("r"), of("t"), of("p"), catalogs))
        found = cursor.execute(keys_query(changed), owner_params(changed)).fetchall()
        keys: dict[Owner, str] = dict(found)
        now.keys.update(keys)
        by_key = {key: owner for owner, key in keys.items()}
        now.tables.update({by_key[table[0]]: table for table in tables})
        now.edges.update(read_edges(cursor, changed, catalogs))
    todo = tables + rewritten
    data = read_data(cursor, todo, content=True, few=len(todo) < 20) if todo else {}
    for key, group in (groups or {}).items():
        now.groups[key] = group_print(key, group, data)
    for key, *_ in rewritten:
        rows, digest = data[key]
        now.groups[key] = now.groups[key]._replace(rows=rows, digest=digest)
