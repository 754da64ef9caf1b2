"""The objects of a PostgreSQL fingerprint that are not tables: sequences (type, bounds, the
column that owns them), enums (labels in order), domains, range types, functions, procedures
and aggregates (their whole definition), collations, event triggers, extensions and schemas,
each read with one query.

A sequence's current value (SEQUENCE_VALUES) is read with the rows, not with the schema:
`nextval` is not transactional, so only the rollback round trip compares it (as SQLite's
AUTOINCREMENT counters), for sequences there both before and after.
"""

from __future__ import annotations

from ci.db.postgres.fingerprint_catalog import (
    USER_SCHEMA,
    Groups,
    Rows,
    display,
    privileges,
    user_objects,
)

SEQUENCES = f"""
SELECT {display("n", "c.relname")},
       'AS ' || format_type(s.seqtypid, NULL) || ' START WITH ' || s.seqstart
       || ' INCREMENT BY ' || s.seqincrement || ' MINVALUE ' || s.seqmin
       || ' MAXVALUE ' || s.seqmax || ' CACHE ' || s.seqcache
       || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE ' NO CYCLE' END
       || coalesce((SELECT CASE d.deptype WHEN 'i' THEN ' IDENTITY OF ' ELSE ' OWNED BY ' END
                           || {display("tn", "t.relname")} || '.' || a.attname
                    FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                    JOIN pg_namespace tn ON tn.oid = t.relnamespace
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                    LIMIT 1), '')
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMA.format(n="n")}
"""

TYPES = f"""
SELECT {display("n", "t.typname")}, t.typtype,
       CASE t.typtype
       WHEN 'e' THEN 'ENUM (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', '
                                                  ORDER BY e.enumsortorder)
                                  FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')'
       WHEN 'd' THEN 'AS ' || format_type(t.typbasetype, t.typtypmod)
            || coalesce(' COLLATE ' || quote_ident(co.collname), '')
            || coalesce(' DEFAULT ' || pg_get_expr(t.typdefaultbin, 0), '')
            || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
            || coalesce((SELECT string_agg(' CONSTRAINT ' || quote_ident(k.conname) || ' '
                                           || pg_get_constraintdef(k.oid), '' ORDER BY k.conname)
                         FROM pg_constraint k WHERE k.contypid = t.oid), '')
       WHEN 'r' THEN (SELECT 'AS RANGE (SUBTYPE = ' || format_type(r.rngsubtype, NULL) || ')'
                      FROM pg_range r WHERE r.rngtypid = t.oid)
       END,
       obj_description(t.oid, 'pg_type')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_collation co ON co.oid = t.typcollation AND t.typtype = 'd'
     AND t.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype)
WHERE t.typtype IN ('e', 'd', 'r') AND {user_objects("n", "pg_type", "t.oid")}
"""
TYPE_KINDS = {"e": "enum", "d": "domain", "r": "type"}

ROUTINES = f"""
SELECT {display("n", "p.proname")} || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       p.prokind,
       CASE WHEN p.prokind = 'a' THEN
            (SELECT 'AGGREGATE (SFUNC = ' || a.aggtransfn::text || ', STYPE = '
                    || format_type(a.aggtranstype, NULL)
                    || coalesce(', FINALFUNC = ' || nullif(a.aggfinalfn::oid, 0)::regproc::text, '')
                    || coalesce(', INITCOND = ' || quote_literal(a.agginitval), '') || ')'
             FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
       ELSE pg_get_functiondef(p.oid) END,
       obj_description(p.oid, 'pg_proc'), {privileges("p.proacl", "acldefault('f', p.proowner)")}
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {user_objects("n", "pg_proc", "p.oid")}
"""
ROUTINE_KINDS = {"f": "function", "w": "function", "p": "procedure", "a": "aggregate"}

EXTENSIONS = """
SELECT e.extname, 'VERSION ' || quote_literal(e.extversion) || ' SCHEMA ' || quote_ident(n.nspname),
       obj_description(e.oid, 'pg_extension')
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
"""

# every column but the internal ones: the same on every server version, whatever it calls them
COLLATIONS = f"""
SELECT {display("n", "c.collname")},
       (to_jsonb(c) - 'oid' - 'collname' - 'collnamespace' - 'collowner' - 'collversion')::text
FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE {user_objects("n", "pg_collation", "c.oid")}
"""

EVENT_TRIGGERS = """
SELECT t.evtname, 'ON ' || t.evtevent
       || coalesce(' WHEN TAG IN (' || array_to_string(t.evttags, ', ') || ')', '')
       || ' EXECUTE FUNCTION ' || t.evtfoid::regproc::text
       || CASE t.evtenabled WHEN 'D' THEN ' DISABLED' WHEN 'R' THEN ' ENABLE REPLICA'
                            WHEN 'A' THEN ' ENABLE ALWAYS' ELSE '' END
FROM pg_event_trigger t
WHERE NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_event_trigger'::regclass
                  AND e.objid = t.oid AND e.deptype = 'e')
"""

# the public schema's own default: its owner's rights and USAGE (before PostgreSQL 15 also
# CREATE) for PUBLIC
SCHEMA_DEFAULT = """(CASE WHEN n.nspname <> 'public' THEN acldefault('n', n.nspowner)
  ELSE acldefault('n', n.nspowner) || (CASE WHEN current_setting('server_version_num')::int
       < 150000 THEN '=UC/' ELSE '=U/' END || quote_ident(pg_get_userbyid(n.nspowner)))::aclitem
  END)"""

SCHEMAS = f"""
SELECT n.nspname, obj_description(n.oid, 'pg_namespace'),
       {privileges("n.nspacl", SCHEMA_DEFAULT)}
FROM pg_namespace n WHERE {user_objects("n", "pg_namespace", "n.oid")}
"""


# a sequence's state: its last value, or that no nextval gave one yet (pg_sequence_last_value
# is NULL then); NULL for a sequence the reader may not read (not compared)
SEQUENCE_VALUES = f"""
SELECT {display("n", "c.relname")},
       CASE WHEN has_sequence_privilege(c.oid, 'SELECT') THEN
            coalesce('last value ' || pg_sequence_last_value(c.oid), 'never called') END
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMA.format(n="n")}
"""

# ALTER DEFAULT PRIVILEGES: by role (none: the reader's own, whatever its name on this
# server), schema (none: every one) and kind of object
DEFAULT_PRIVILEGES = """
SELECT CASE WHEN pg_get_userbyid(d.defaclrole) = current_user THEN ''
            ELSE 'FOR ROLE ' || quote_ident(pg_get_userbyid(d.defaclrole)) || ' ' END
       || coalesce('IN SCHEMA ' || quote_ident(n.nspname) || ' ', '') || 'ON '
       || CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES'
          WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS'
          ELSE d.defaclobjtype::text END,
       coalesce((SELECT string_agg(item, ', ' ORDER BY item)
                 FROM unnest(d.defaclacl::text[]) AS item), '')
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
"""


def sequence_definitions(rows: Rows) -> dict[str, str]:
    """{sequence: its definition}, for the relation reader, which names the groups."""
    return {str(name): str(definition) for name, definition in rows}


def read_types(groups: Groups, rows: Rows) -> None:
    for name, typtype, definition, comment in rows:
        kind = TYPE_KINDS[typtype]
        groups.add(name, name, kind, definition or "")
        groups.part(name, "comment", f"on {kind} {name}", comment)


def read_routines(groups: Groups, rows: Rows) -> None:
    for signature, prokind, definition, comment, acl in rows:
        kind = ROUTINE_KINDS.get(prokind, "function")
        key = f"routine {signature}"
        groups.add(key, signature, kind, definition or "")
        groups.part(key, "comment", f"on {kind} {signature}", comment)
        groups.part(key, "option", "privileges", acl)


def read_extensions(groups: Groups, rows: Rows) -> None:
    for name, definition, comment in rows:
        key = f"extension {name}"
        groups.add(key, name, "extension", definition)
        groups.part(key, "comment", f"on extension {name}", comment)


def read_schemas(groups: Groups, rows: Rows) -> None:
    for name, comment, acl in rows:
        key = f"schema {name}"
        groups.add(key, name, "schema", "")
        groups.part(key, "comment", f"on schema {name}", comment)
        groups.part(key, "option", "privileges", acl)


def read_named(groups: Groups, kind: str, rows: Rows) -> None:
    """Objects with a namespace of their own and a one-line definition: collations, event
    triggers."""
    for name, definition in rows:
        groups.add(f"{kind} {name}", name, kind, definition)
