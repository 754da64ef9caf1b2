"""The queries ci.db.postgres.fingerprint_delta asks before it reads a group again: what each
group's catalog rows are and who wrote them (signatures), what lies outside the groups
(WORLD), how many rows each table and catalog had written (WRITES), which groups each depends
on (edges) and the key the whole read gives each group (keys).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from ci.db.postgres.fingerprint_catalog import USER_SCHEMA, among, display, only_params

# an owner: its kind ('r' relation, 't' type, 'p' routine) and OID, as one string: 'r16384'
Owner = str

USER = USER_SCHEMA.format(n="n")
# what the server made at initdb has lower OIDs: never a group's, never changed by a migration
FIRST_USER_OID = 16384
RELATION_KINDS = "('r', 'p', 'f', 'v', 'm', 'S', 'c')"
# the parameter (ci.db.postgres.fingerprint_catalog.among) that holds the OIDs of each kind
KIND_PARAMS = {"r": "relations", "t": "types", "p": "routines"}


def owner_params(owners: Collection[Owner] | None) -> dict[str, list[int]] | None:
    """The parameters of edges_query and keys_query for `owners` (None: every owner)."""
    if owners is None:
        return None

    def of(kind: str) -> list[int]:
        return [int(o[1:]) for o in owners if o[0] == kind]

    return only_params(of("r"), of("t"), of("p"))


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
    # an index: its pg_index row and its name's (pg_class) row, as one row written by the
    # newer of the two transactions
    (
        "'r'",
        "indrelid",
        "x.xmin, i.xmin",
        "pg_index x JOIN pg_class i ON i.oid = x.indexrelid",
    ),
    ("'t'", "oid", "xmin", "pg_type WHERE typtype IN ('e', 'd', 'r')"),
    ("'t'", "enumtypid", "xmin", "pg_enum"),
    ("'t'", "rngtypid", "xmin", "pg_range"),
    ("'t'", "contypid", "xmin", "pg_constraint"),
    ("'p'", "oid", "xmin", "pg_proc"),
    ("'p'", "aggfnoid::oid", "xmin", "pg_aggregate"),
]


def _rows(kind: str, owner: str, xmins: str, source: str) -> str:
    """(owner's OID, whether a transaction the last read did not see wrote the row): `age`
    counts back from the read's own snapshot, so the last read's HORIZON is an age here
    (`since`: a row at most that old is new; `running`: the ages of those it saw running)."""
    where = " AND " if " WHERE " in f" {source} " else " WHERE "
    new = " OR ".join(
        f"age({x}) <= h.since OR age({x}) = ANY(h.running)" for x in xmins.split(", ")
    )
    return f"SELECT {owner} AS oid, {new} AS new FROM {source}{where}{owner} >= {FIRST_USER_OID}"


# the kind of owner each part of ROWS counts, and each kind's parts
KINDS = [kind.strip("'") for kind, *_ in ROWS]
KIND_PARTS = {kind: [i for i, k in enumerate(KINDS) if k == kind] for kind in set(KINDS)}


# the catalogs each of ROWS reads: a part whose catalogs nobody wrote since the last read (the
# server's statistics say) is not read again
CATALOGS = [sorted(set(re.findall(r"\bpg_[a-z_]+", source))) for *_, source in ROWS]
# the catalog each part is named after
PART_CATALOGS = [source.split()[0] for *_, source in ROWS]
CATALOG_NAMES = sorted({name for names in CATALOGS for name in names})


def signatures_query(parts: list[int]) -> str:
    """The owners whose rows in the given parts of ROWS changed since the last read, with how
    many they have now (NULL: none): those with a row written since (by a transaction the
    last read's snapshot did not see: parameters `horizon` and `running`, its HORIZON) and
    those with fewer rows than they had (parameters `parts`, `owners`, `counts`: the last
    read's counts in those parts). A row added or written again has a newer transaction; one
    removed leaves its owner with fewer rows unless another was added, which is new. The
    comparison runs on the server: a read gets back the few owners a step changed, not every
    owner's count."""
    union = "\nUNION ALL ".join(
        f"SELECT {i} AS part, * FROM ({_rows(*ROWS[i])}) AS p" for i in parts
    )
    # a row frozen (age 2147483647) or written at initdb is never new
    return f"""
WITH h AS MATERIALIZED (
  SELECT age(%(horizon)s::xid) AS since,
         ARRAY(SELECT age(x::xid) FROM unnest(%(running)s::text[]) AS x) AS running)
SELECT part, oid, now FROM (
  SELECT part, oid, count(*) AS now, bool_or(new) AS fresh
  FROM h, LATERAL ({union}) AS rows GROUP BY part, oid
) AS found
FULL JOIN unnest(%(parts)s::int[], %(owners)s::oid[], %(counts)s::int8[]) AS was(part, oid, n)
USING (part, oid)
WHERE fresh OR now IS DISTINCT FROM n
"""


def _xid(xid8: str) -> str:
    """An xid8 (epoch and all) as the xid of its low 32 bits, the one rows show, in text."""
    return f"mod({xid8}::text::numeric, 4294967296)::text"


# the transactions whose rows the read's snapshot may not see: the first one not yet started
# when it was taken, and those still running (rows written after it are theirs or newer ones');
# not its oldest running one, which another database's long transaction may hold for hours
HORIZON = f"""
{_xid("pg_snapshot_xmax(pg_current_snapshot())")},
ARRAY(SELECT {_xid("x")} FROM pg_snapshot_xip(pg_current_snapshot()) AS x)
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
        f" WHERE {oid} >= {FIRST_USER_OID}{among(owner[1:], wanted, KIND_PARAMS[owner[0]])}"
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
    # over them costs seconds; LATERAL (OFFSET 0: not flattened into a join): each object's
    # rows looked up by pg_depend's index on (classid, objid), never a scan of pg_depend
    # joined to every object (what a generic plan, made for any number of OIDs, picks when the
    # catalogs' statistics are stale)
    return f"""
WITH o(cls, obj, owner) AS MATERIALIZED ({objects}),
d AS MATERIALIZED (SELECT o.owner, d.refclassid, d.refobjid
                   FROM o CROSS JOIN LATERAL (
                     SELECT d.refclassid, d.refobjid FROM pg_depend d
                     WHERE d.classid = o.cls AND d.objid = o.obj
                       AND d.refobjid >= {FIRST_USER_OID} OFFSET 0) AS d),
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
    "pg_default_acl",  # ALTER DEFAULT PRIVILEGES
]
OUTSIDE_SUMS = ", ".join(
    f"(SELECT count(*) || ':' || sum({written_by('xmin')}) FROM {source})" for source in OUTSIDE
)
# ... as one string (with when the database's statistics were last reset: counts that went
# back to zero compare with nothing); whether the statistics count every row written (no client
# session but the reader's and the writer's, parameter 1, whose counts the reader flushed);
# WRITES as {table or catalog: rows}; and the read's HORIZON
WORLD = f"""
SELECT concat_ws(' ', {OUTSIDE_SUMS},
                 (SELECT string_agg(oid || rolname, ',' ORDER BY oid) FROM pg_roles),
                 pg_stat_get_db_stat_reset_time(
                   (SELECT oid FROM pg_database WHERE datname = current_database()))),
       current_setting('track_counts')::bool AND NOT EXISTS (
         SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
         AND pid <> pg_backend_pid() AND pid <> %s AND backend_type = 'client backend'),
       (SELECT json_object_agg(name, written) FROM ({WRITES}) AS w(name, written)),
       {HORIZON}
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
WHERE c.relkind IN {RELATION_KINDS} AND {USER}{among("c.oid", of("r"), "relations")}""",
            ),
            (
                "t",
                f"""SELECT 't' || t.oid, {display("n", "t.typname")}
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'r') AND {USER}{among("t.oid", of("t"), "types")}""",
            ),
            (
                "p",
                f"""SELECT 'p' || p.oid, 'routine ' || {signature} || ')'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {USER}{among("p.oid", of("p"), "routines")}""",
            ),
        ]
        if owners is None or of(kind)
    )
