"""Fingerprints of one database read again and again (the rollback round trip reads three per
migration): each read after the first reads only what may have changed since the one before,
and takes the rest from it. The result is the Fingerprint a whole read gives
(ci.db.postgres.fingerprint): the round trip compares and words it the same way.

What may have changed is asked of the catalog in one query that calls no deparser: per group
(a relation, a type, a routine: its *owner*) how many catalog rows it is read from (columns,
defaults, indexes, constraints, triggers, policies, rules, statistics, a sequence's OWNED BY,
enum labels, ...) and the sum of the transactions that wrote them (`xmin`). A row written again
or added has a newer transaction than every row it replaces, so any write, addition or removal
changes the pair. A group whose rows nobody wrote reads as it did, except where it prints
another group's name (a view its tables', a foreign key its parent's, a column default its
sequence's, a trigger its function's): so a group is also read again when a group it depends on
(pg_depend, kept from the read that last read it) changed. Those groups are read with the whole
read's queries, limited to them. A change outside the groups (schemas, extensions and their
members, collations, event triggers, languages, roles, comments) makes the read a whole one.

Rows: a table's rows are read again when its group changed or the server's statistics count a
row inserted, updated or deleted in it since (the session's pending counts are flushed first,
`pg_stat_force_next_flush`). When the counts cannot be trusted (`track_counts` off, or another
client session connected to the database, whose counts reach the server late), every table's
rows are read, as a whole read does. A read inside the caller's transaction, or on a server
before PostgreSQL 15, is always a whole read.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ci.db.fingerprint_records import Fingerprint, TablePrint
from ci.db.postgres.fingerprint import Only, fix_settings, group_print, read_catalog
from ci.db.postgres.fingerprint_catalog import USER_SCHEMA, among, display
from ci.db.postgres.fingerprint_data import DataTable, read_data

if TYPE_CHECKING:
    import psycopg

    from ci.db.postgres.fingerprint_data import Cursor

# an owner: its kind ('r' relation, 't' type, 'p' routine) and OID, as one string: 'r16384'
Owner = str
# how many catalog rows an owner is read from, and the sum of the transactions that wrote them
Signature = tuple[int, int]

USER = USER_SCHEMA.format(n="n")
# what the server made at initdb has lower OIDs: never a group's, never changed by a migration
FIRST_USER_OID = 16384
RELATION_KINDS = "('r', 'p', 'f', 'v', 'm', 'S', 'c')"


def written_by(xmin: str) -> str:
    """The transaction that wrote a row, as a number that only grows: a row written again, or
    added, always has a larger one than every row it replaces. (`age` counts back from the
    read's own snapshot, the same for every row of one read; xmin itself has no arithmetic.)"""
    # a row the server wrote at initdb (bootstrap, frozen) has no age: 0, whatever the read
    return f"CASE WHEN age({xmin}) = 2147483647 THEN 0 ELSE age('3'::xid)::int8 - age({xmin}) END"


# (owner, the transactions that wrote one row) for every catalog row a group is read from;
# a comment changing makes the read a whole one (WORLD), not a row here
ROWS = [
    ("'r'", "oid", "xmin", f"pg_class WHERE relkind IN {RELATION_KINDS}"),
    ("'r'", "attrelid", "xmin", "pg_attribute WHERE attnum > 0"),
    ("'r'", "adrelid", "xmin", "pg_attrdef"),
    ("'r'", "conrelid", "xmin", "pg_constraint"),
    ("'r'", "tgrelid", "xmin", "pg_trigger"),
    ("'r'", "polrelid", "xmin", "pg_policy"),
    ("'r'", "ev_class", "xmin", "pg_rewrite"),
    ("'r'", "stxrelid", "xmin", "pg_statistic_ext"),
    ("'r'", "inhrelid", "xmin", "pg_inherits"),
    ("'r'", "seqrelid", "xmin", "pg_sequence"),
    # a sequence's own dependencies: ALTER SEQUENCE ... OWNED BY writes nothing else
    (
        "'r'",
        "d.objid",
        "d.xmin",
        "pg_sequence q JOIN pg_depend d ON d.classid = 'pg_class'::regclass"
        " AND d.objid = q.seqrelid",
    ),
    # an index: its pg_index row and its name's (pg_class) row, as one row of two ages
    (
        "'r'",
        "indrelid",
        "x.xmin) + age(i.xmin",
        "pg_index x JOIN pg_class i ON i.oid = x.indexrelid",
    ),
    ("'t'", "oid", "xmin", "pg_type WHERE typtype IN ('e', 'd', 'r')"),
    ("'t'", "enumtypid", "xmin", "pg_enum"),
    ("'t'", "rngtypid", "xmin", "pg_range"),
    ("'t'", "contypid", "xmin", "pg_constraint"),
    ("'p'", "oid", "xmin", "pg_proc"),
    ("'p'", "aggfnoid::oid", "xmin", "pg_aggregate"),
]


def _rows(kind: str, owner: str, xmin: str, source: str) -> str:
    where = " AND " if " WHERE " in f" {source} " else " WHERE "
    return (
        f"SELECT {kind} AS kind, {owner} AS owner, {xmin.count('xmin')} AS n, age({xmin}) AS age"
        f" FROM {source}"
        f"{where}{owner} >= {FIRST_USER_OID}"
    )


# the catalogs each of ROWS reads: a part whose catalogs nobody wrote since the last read (the
# server's statistics say) is not read again
CATALOGS = [sorted(set(re.findall(r"\bpg_[a-z_]+", source))) for *_, source in ROWS]
# the catalog each part is named after
PART_CATALOGS = [source.split()[0] for *_, source in ROWS]
CATALOG_NAMES = sorted({name for names in CATALOGS for name in names})


def signatures_query(parts: list[int]) -> str:
    """Per part of ROWS and owner: how many rows, and the sum of their ages (how many
    transactions ago each was written, counted from the read's snapshot: `age('3')` -
    `age(xmin)` is the transaction that wrote it, a number that only grows: a row written
    again, or added, always has a larger one than every row it replaces; rows of user objects
    are never the server's own, ageless ones)."""
    union = "\nUNION ALL ".join(
        f"SELECT {i} AS part, * FROM ({_rows(*ROWS[i])}) AS p" for i in parts
    )
    return f"""
SELECT part, kind, owner, sum(n), sum(age), age('3'::xid) FROM ({union}) AS written
GROUP BY part, kind, owner
"""


# the rows inserted, updated and deleted so far (the server's statistics) in each plain table
# ('r' and its OID) and in each catalog ROWS reads (by name)
WRITES = f"""
SELECT CASE WHEN oid >= {FIRST_USER_OID} THEN 'r' || oid ELSE relname::text END,
       pg_stat_get_tuples_inserted(oid) + pg_stat_get_tuples_updated(oid)
       + pg_stat_get_tuples_deleted(oid)
FROM pg_class WHERE relkind = 'r' AND (oid >= {FIRST_USER_OID} OR relnamespace =
  'pg_catalog'::regnamespace AND relname IN ({", ".join(f"'{n}'" for n in CATALOG_NAMES)}))
"""

# the owner of an object a pg_depend row names ({cls}, {obj}): NULL outside the groups
OWNER_OF = """
CASE {cls}
WHEN 'pg_class'::regclass THEN
     'r' || coalesce((SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = {obj}), {obj})
WHEN 'pg_type'::regclass THEN
     (SELECT CASE WHEN e.typrelid <> 0 THEN 'r' || e.typrelid ELSE 't' || e.oid END
      FROM pg_type t JOIN pg_type e
        ON e.oid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END
      WHERE t.oid = {obj})
WHEN 'pg_proc'::regclass THEN 'p' || {obj}
WHEN 'pg_constraint'::regclass THEN
     (SELECT CASE WHEN k.conrelid <> 0 THEN 'r' || k.conrelid ELSE 't' || k.contypid END
      FROM pg_constraint k WHERE k.oid = {obj})
WHEN 'pg_attrdef'::regclass THEN (SELECT 'r' || a.adrelid FROM pg_attrdef a WHERE a.oid = {obj})
WHEN 'pg_trigger'::regclass THEN (SELECT 'r' || g.tgrelid FROM pg_trigger g WHERE g.oid = {obj})
WHEN 'pg_rewrite'::regclass THEN (SELECT 'r' || w.ev_class FROM pg_rewrite w WHERE w.oid = {obj})
WHEN 'pg_policy'::regclass THEN (SELECT 'r' || p.polrelid FROM pg_policy p WHERE p.oid = {obj})
WHEN 'pg_statistic_ext'::regclass THEN
     (SELECT 'r' || s.stxrelid FROM pg_statistic_ext s WHERE s.oid = {obj})
END
"""


def edges_query(owners: set[Owner] | None, catalogs: Collection[str] | None = None) -> str:
    """(owner, an owner it depends on): a view on its tables, a foreign key on the table it
    references, a column default on its sequence, a trigger on its function, ...; `catalogs`:
    the only ones the owners have rows in (None: any)."""

    def of(kind: str) -> set[int] | None:
        return None if owners is None else {int(o[1:]) for o in owners if o[0] == kind}

    relations, types, routines = of("r"), of("t"), of("p")
    objects = " UNION ALL ".join(
        f"SELECT '{catalog}'::regclass, {oid}, '{owner[0]}' || {owner[1:]} FROM {source}"
        f" WHERE {oid} >= {FIRST_USER_OID}{among(owner[1:], wanted)}"
        for catalog, source, oid, owner, wanted in [
            ("pg_class", "pg_class", "oid", "roid", relations),
            ("pg_class", "pg_index", "indexrelid", "rindrelid", relations),
            ("pg_attrdef", "pg_attrdef", "oid", "radrelid", relations),
            ("pg_constraint", "pg_constraint", "oid", "rconrelid", relations),
            ("pg_constraint", "pg_constraint", "oid", "tcontypid", types),
            ("pg_trigger", "pg_trigger", "oid", "rtgrelid", relations),
            ("pg_rewrite", "pg_rewrite", "oid", "rev_class", relations),
            ("pg_policy", "pg_policy", "oid", "rpolrelid", relations),
            ("pg_statistic_ext", "pg_statistic_ext", "oid", "rstxrelid", relations),
            ("pg_type", "pg_type", "oid", "toid", types),
            ("pg_proc", "pg_proc", "oid", "poid", routines),
        ]
        if (wanted is None or wanted) and (catalogs is None or source in catalogs)
    )
    # materialized: the planner cannot estimate pg_depend's rows here, and a nested loop
    # over them costs seconds
    return f"""
WITH o(cls, obj, owner) AS MATERIALIZED ({objects}),
d AS MATERIALIZED (SELECT o.owner, d.refclassid, d.refobjid
                   FROM o JOIN pg_depend d ON d.classid = o.cls AND d.objid = o.obj
                   WHERE d.refobjid >= {FIRST_USER_OID}),
e AS MATERIALIZED (SELECT owner, {OWNER_OF.format(cls="refclassid", obj="refobjid")} AS ref
                   FROM d)
SELECT DISTINCT owner, ref FROM e WHERE ref IS NOT NULL AND ref <> owner
"""


# what lies outside the groups: when one of them changes, the read is a whole one
OUTSIDE = [
    "pg_namespace",
    "pg_extension",
    "pg_event_trigger",
    "pg_language",
    "pg_collation",
    "pg_depend WHERE deptype = 'e'",  # an extension's members
    f"pg_description WHERE objoid >= {FIRST_USER_OID}",  # comments
]
OUTSIDE_SUMS = ", ".join(
    f"(SELECT count(*) || ':' || sum({written_by('xmin')}) FROM {source})" for source in OUTSIDE
)
# ... as one string; and whether the statistics count every row written (WRITES)
WORLD = f"""
SELECT concat_ws(' ', {OUTSIDE_SUMS},
                 (SELECT string_agg(oid || rolname, ',' ORDER BY oid) FROM pg_roles)),
       current_setting('track_counts')::bool AND NOT EXISTS (
         SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
         AND pid <> pg_backend_pid() AND backend_type = 'client backend')
"""


def keys_query(owners: set[Owner] | None) -> str:
    """(owner, its group's key), as the whole read names the groups."""

    def of(kind: str) -> set[int] | None:
        return None if owners is None else {int(o[1:]) for o in owners if o[0] == kind}

    signature = f"{display('n', 'p.proname')} || '(' || pg_get_function_identity_arguments(p.oid)"
    return "\nUNION ALL ".join(
        query
        for kind, query in [
            (
                "r",
                f"""SELECT 'r' || c.oid, {display("n", "c.relname")}
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN {RELATION_KINDS} AND {USER}{among("c.oid", of("r"))}""",
            ),
            (
                "t",
                f"""SELECT 't' || t.oid, {display("n", "t.typname")}
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'r') AND {USER}{among("t.oid", of("t"))}""",
            ),
            (
                "p",
                f"""SELECT 'p' || p.oid, 'routine ' || {signature} || ')'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {USER}{among("p.oid", of("p"))}""",
            ),
        ]
        if owners is None or of(kind)
    )


@dataclass
class Read:
    """What the last read found, for the next to start from."""

    world: str
    parts: list[dict[Owner, Signature]]  # per part of ROWS: each owner's rows, transactions
    written: dict[Owner, int]  # rows written in each plain table and catalog so far
    edges: dict[Owner, set[Owner]] = field(default_factory=dict)  # the owners each depends on
    keys: dict[Owner, str] = field(default_factory=dict)  # each owner's group key
    tables: dict[Owner, DataTable] = field(default_factory=dict)  # tables whose rows were read
    groups: dict[str, TablePrint] = field(default_factory=dict)

    @cached_property
    def signatures(self) -> dict[Owner, Signature]:
        """Each owner's rows and transactions, over every part."""
        found: dict[Owner, Signature] = {}
        for part in self.parts:
            for owner, (count, total) in part.items():
                was = found.get(owner, (0, 0))
                found[owner] = (was[0] + count, was[1] + total)
        return found


def read_parts(cursor: Cursor, parts: list[int]) -> dict[int, dict[Owner, Signature]]:
    """{part of ROWS: {owner: (rows, sum of the transactions that wrote them)}}."""
    found: dict[int, dict[Owner, Signature]] = {i: {} for i in parts}
    for part, kind, oid, count, ages, since in cursor.execute(signatures_query(parts)):
        found[part][f"{kind}{oid}"] = (int(count), int(count) * (since + 3) - int(ages))
    return found


class Fingerprints:
    """`read()` the fingerprint of the database of `conn` (schema and every table's rows), as
    ci.db.postgres.fingerprint.fingerprint does, reading only what changed since the last."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.last: Read | None = None
        self.followable = conn.info.server_version >= 150000  # pg_stat_force_next_flush

    def read(self) -> Fingerprint:
        from psycopg import pq
        from psycopg.rows import tuple_row

        from ci.db.postgres.fingerprint import fingerprint

        idle = self.conn.info.transaction_status == pq.TransactionStatus.IDLE
        if not (self.followable and idle and self.conn.autocommit):
            self.last = None
            return fingerprint(self.conn)
        self.conn.execute("SELECT pg_stat_force_next_flush()")  # counts flushed when idle
        with (
            self.conn.transaction(force_rollback=True),
            self.conn.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            fix_settings(cursor)
            self.last = self._read(cursor)
        return Fingerprint(dict(self.last.groups))

    def _read(self, cursor: Cursor) -> Read:
        row = cursor.execute(WORLD).fetchone()
        assert row is not None
        world, counted = str(row[0]), bool(row[1])
        written = {o: int(n) for o, n in cursor.execute(WRITES).fetchall()}
        last = self.last
        if last is None or last.world != world or not counted:
            every = read_parts(cursor, list(range(len(ROWS))))
            now = Read(world, [every[i] for i in range(len(ROWS))], written)
            return whole(cursor, now)
        stale = [
            i
            for i, catalogs in enumerate(CATALOGS)
            if any(written.get(name) != last.written.get(name) for name in catalogs)
        ]
        fresh = read_parts(cursor, stale) if stale else {}
        parts = [fresh.get(i, known) for i, known in enumerate(last.parts)]
        now = Read(world, parts, written)
        signatures, before = now.signatures, last.signatures
        moved = set()
        if stale:  # else nothing moved
            moved = {o for o in signatures.keys() | before.keys()
                     if before.get(o) != signatures.get(o)}  # fmt: skip
        # a group prints the names of those it depends on: read again when one of them moved
        changed = {o for o in signatures if o in moved or last.edges.get(o, set()) & moved}
        now.keys, now.tables, now.groups = dict(last.keys), dict(last.tables), dict(last.groups)
        now.edges = {o: refs for o, refs in last.edges.items() if o in signatures}
        for owner in moved | changed:
            now.groups.pop(now.keys.pop(owner, ""), None)
            now.tables.pop(owner, None)
            now.edges.pop(owner, None)
        rewritten = [
            table
            for owner, table in now.tables.items()
            if not counted or written.get(owner) != last.written.get(owner)
        ]
        reread(cursor, now, changed, rewritten)
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
    return now


def read_edges(
    cursor: Cursor, owners: set[Owner] | None, catalogs: Collection[str] | None = None
) -> dict[Owner, set[Owner]]:
    edges: dict[Owner, set[Owner]] = {}
    if owners is not None and not owners:
        return edges
    for owner, ref in cursor.execute(edges_query(owners, catalogs)).fetchall():
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
            PART_CATALOGS[i] for i, part in enumerate(now.parts) if not changed.isdisjoint(part)
        }
        groups, tables = read_catalog(cursor, Only(of("r"), of("t"), of("p"), catalogs))
        keys: dict[Owner, str] = dict(cursor.execute(keys_query(changed)).fetchall())
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
