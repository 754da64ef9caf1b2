"""The catalog side of a PostgreSQL fingerprint: the queries that read every user object from
pg_catalog, and the `Groups` they are collected into.

Every query reads the whole catalog at once (one round trip per kind of object, never one per
table) and prints definitions with the server's own deparsers (format_type, pg_get_expr,
pg_get_indexdef, pg_get_constraintdef, pg_get_viewdef, pg_get_functiondef, pg_get_triggerdef),
so two spellings of one schema read the same. Objects of the system schemas, objects an
extension created (its name and version stand for them) and the runner's own tables are left
out. Internal identifiers (OIDs) never reach a record: they differ between databases.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ci.db.fingerprint_records import Column, ForeignKey, Index, SchemaObject
from ci.db.tables import LOG_TABLE, TABLE

RUNNER_TABLES = (TABLE, LOG_TABLE)
RUNNER_NAMES = ", ".join(f"'{t}'" for t in RUNNER_TABLES)

# the schemas the server owns: pg_toast covers pg_toast_temp_N too (by its first 8 letters,
# not LIKE 'pg\_toast%': a query with parameters would read that `%` as a placeholder)
USER_SCHEMA = """
{n}.nspname NOT IN ('pg_catalog', 'information_schema')
AND left({n}.nspname, 8) NOT IN ('pg_toast', 'pg_temp_')
"""

# an object an extension created (its members are named by the extension's version)
NOT_EXTENSION_MEMBER = """
NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass
            AND e.objid = {oid} AND e.deptype = 'e')
"""

# a relation's name as the fingerprint shows it: schema-qualified outside `public`
DISPLAY = "CASE WHEN {n}.nspname = 'public' THEN {name} ELSE {n}.nspname || '.' || {name} END"


def user_objects(n: str, catalog: str, oid: str) -> str:
    """The WHERE clause shared by every query: a user schema, not an extension's member."""
    return USER_SCHEMA.format(n=n) + " AND " + NOT_EXTENSION_MEMBER.format(catalog=catalog, oid=oid)


def display(n: str, name: str) -> str:
    return DISPLAY.format(n=n, name=name)


# the query parameters a read of only some groups passes their OIDs in (see `among`)
OID_LISTS = ("relations", "types", "routines")


def among(column: str, oids: Collection[int] | None, kind: str = "relations") -> str:
    """A condition that keeps only the objects whose `column` is one of `oids` (None: every
    object), for a read of only the groups that changed (ci.db.postgres.fingerprint_delta).
    The OIDs are the query's parameter `kind` (one of OID_LISTS: see `only_params`), not
    written into it: the text stays the same whichever groups are read, so a session that
    prepares its statements plans each query once (the planning costs more than running it)."""
    if oids is None:
        return ""
    assert kind in OID_LISTS
    return f" AND {column} = ANY(%({kind})s::oid[])"


def only_params(
    relations: Collection[int] | None = None,
    types: Collection[int] | None = None,
    routines: Collection[int] | None = None,
) -> dict[str, list[int]]:
    """The parameters of queries made with `among` (only those given)."""
    given = zip(OID_LISTS, (relations, types, routines), strict=True)
    return {kind: [int(oid) for oid in oids] for kind, oids in given if oids is not None}


RELKINDS = {
    "r": "table",
    "p": "partitioned table",
    "f": "foreign table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "c": "type",
}
TABLE_KINDS = ("r", "p", "f")


@dataclass
class Group:
    """One group while it is read: the object it is named after and what belongs to it."""

    name: str
    objects: list[SchemaObject] = field(default_factory=list)
    columns: list[tuple[int, Column]] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


class Groups(dict[str, Group]):
    """Groups by key: a relation's or type's display name (they share one namespace), or
    `<kind> <name>` for a function, an extension or a schema (namespaces of their own)."""

    def add(self, key: str, name: str, kind: str, sql: str) -> Group:
        group = self.setdefault(key, Group(name))
        group.objects.append(SchemaObject(kind, name, sql))
        return group

    def part(self, key: str, kind: str, name: str, sql: str | None) -> None:
        """An object that belongs to a group read before (its table); left out with it."""
        group = self.get(key)
        if group is not None and sql is not None:
            group.objects.append(SchemaObject(kind, name, sql))


Rows = list[tuple[Any, ...]]


def privileges(acl: str, default: str) -> str:
    """An ACL as text when it is not the owner's default (`default`), in a stable order (a
    GRANT then its REVOKE leaves the default written out: the same as none)."""
    return f"""
CASE WHEN {acl} IS NULL OR {acl} = {default} THEN NULL
     ELSE (SELECT string_agg(item, ', ' ORDER BY item) FROM unnest({acl}::text[]) AS item)
END
"""


# GRANTs other than the owner's default
PRIVILEGES = privileges(
    "c.relacl",
    """acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)""",
)


def relations_query(only: Collection[int] | None = None) -> str:
    return f"""
SELECT {display("n", "c.relname")}, c.relkind, c.relpersistence, c.relrowsecurity,
       c.relforcerowsecurity, array_to_string(c.reloptions, ', '),
       pg_get_partkeydef(c.oid), pg_get_expr(c.relpartbound, c.oid),
       (SELECT string_agg({display("pn", "p.relname")}, ', ' ORDER BY i.inhseqno)
          FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
          JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid),
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       obj_description(c.oid, 'pg_class'), {PRIVILEGES}, n.nspname, c.relname,
       CASE WHEN c.relkind NOT IN ('r', 'p') THEN NULL  -- views, sequences: always 'n'
            WHEN c.relreplident = 'n' THEN 'NOTHING' WHEN c.relreplident = 'f' THEN 'FULL'
            WHEN c.relreplident = 'i' THEN
            (SELECT 'USING INDEX ' || quote_ident(ic.relname) FROM pg_index x
             JOIN pg_class ic ON ic.oid = x.indexrelid
             WHERE x.indrelid = c.oid AND x.indisreplident) END,
       (SELECT quote_ident(ic.relname) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
        WHERE x.indrelid = c.oid AND x.indisclustered)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ({", ".join(f"'{k}'" for k in RELKINDS)})
  AND {user_objects("n", "pg_class", "c.oid")}
  AND c.relname NOT IN ({RUNNER_NAMES})
  AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                    AND t.relname IN ({RUNNER_NAMES})){among("c.oid", only)}
"""


def columns_query(only: Collection[int] | None = None) -> str:
    return f"""
SELECT {display("n", "c.relname")}, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
       coalesce((SELECT k.n FROM pg_index x, unnest(x.indkey::int2[]) WITH ORDINALITY k(att, n)
                 WHERE x.indrelid = c.oid AND x.indisprimary AND k.att = a.attnum), 0),
       col_description(c.oid, a.attnum),
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END,
       CASE WHEN a.attstattarget >= 0 THEN a.attstattarget END, nullif(a.attcompression, ''),
       (SELECT string_agg(item, ', ' ORDER BY item) FROM unnest(a.attacl::text[]) AS item)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'c')
  AND {USER_SCHEMA.format(n="n")}{among("c.oid", only)}
"""


def indexes_query(only: Collection[int] | None = None) -> str:
    return f"""
SELECT {display("n", "c.relname")}, ic.relname, pg_get_indexdef(x.indexrelid), x.indisunique,
       x.indisvalid, x.indpred IS NOT NULL,
       (SELECT con.contype FROM pg_constraint con WHERE con.conindid = x.indexrelid
          AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')),
       ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(att, n)
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.att
             ORDER BY k.n),
       obj_description(x.indexrelid, 'pg_class'), array_to_string(ic.reloptions, ', ')
FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class ic ON ic.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMA.format(n="n")}{among("c.oid", only)}
"""


def constraints_query(only: Collection[int] | None = None) -> str:
    return f"""
SELECT {display("n", "c.relname")}, con.conname, con.contype, pg_get_constraintdef(con.oid),
       con.convalidated, {display("fn", "f.relname")},
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(att, n)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.att ORDER BY k.n),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(att, n)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.att ORDER BY k.n),
       con.confupdtype, con.confdeltype, obj_description(con.oid, 'pg_constraint')
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class f ON f.oid = con.confrelid LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE {USER_SCHEMA.format(n="n")}{among("c.oid", only)}
"""


def triggers_query(only: Collection[int] | None = None) -> str:
    return f"""
SELECT {display("n", "c.relname")}, tg.tgname, pg_get_triggerdef(tg.oid), tg.tgenabled,
       obj_description(tg.oid, 'pg_trigger')
FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND {USER_SCHEMA.format(n="n")}{among("c.oid", only)}
"""


def policies_query(only: Collection[int] | None = None) -> str:
    """Row-level security policies, rewrite rules and extended statistics (CREATE STATISTICS):
    (table, kind, name, definition)."""
    return f"""
SELECT {display("n", "c.relname")}, 'policy', p.polname,
       CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END
       || ' FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                   WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END
       || ' TO ' || (SELECT string_agg(role, ', ' ORDER BY role) FROM
                       (SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END
                        FROM unnest(p.polroles) r) AS roles(role))
       || coalesce(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
       || coalesce(' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '')
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMA.format(n="n")}{among("c.oid", only)}
UNION ALL
SELECT {display("n", "c.relname")}, 'rule', r.rulename, pg_get_ruledef(r.oid)
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN' AND {USER_SCHEMA.format(n="n")}{among("c.oid", only)}
UNION ALL
SELECT {display("n", "c.relname")}, 'statistics', s.stxname, pg_get_statisticsobjdef(s.oid)
FROM pg_statistic_ext s JOIN pg_class c ON c.oid = s.stxrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMA.format(n="n")}{among("c.oid", only)}
"""
