"""The objects of a PostgreSQL fingerprint that are not tables: sequences (type, bounds, the
column that owns them), enums (labels in order), domains, range types, functions, procedures
and aggregates (their whole definition), collations, event triggers, extensions and schemas,
each read with one query.

A sequence's current value is not read: `nextval` is not transactional (a rolled-back
transaction still advances it), so comparing it would flag every migration that inserts rows.
"""

from __future__ import annotations

from ci.db.postgres.fingerprint_catalog import (
    USER_SCHEMA,
    Groups,
    Rows,
    display,
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
       obj_description(p.oid, 'pg_proc')
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

SCHEMAS = f"""
SELECT n.nspname, obj_description(n.oid, 'pg_namespace')
FROM pg_namespace n WHERE {user_objects("n", "pg_namespace", "n.oid")}
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
    for signature, prokind, definition, comment in rows:
        kind = ROUTINE_KINDS.get(prokind, "function")
        key = f"routine {signature}"
        groups.add(key, signature, kind, definition or "")
        groups.part(key, "comment", f"on {kind} {signature}", comment)


def read_extensions(groups: Groups, rows: Rows) -> None:
    for name, definition, comment in rows:
        key = f"extension {name}"
        groups.add(key, name, "extension", definition)
        groups.part(key, "comment", f"on extension {name}", comment)


def read_schemas(groups: Groups, rows: Rows) -> None:
    for name, comment in rows:
        key = f"schema {name}"
        groups.add(key, name, "schema", "")
        groups.part(key, "comment", f"on schema {name}", comment)


def read_named(groups: Groups, kind: str, rows: Rows) -> None:
    """Objects with a namespace of their own and a one-line definition: collations, event
    triggers."""
    for name, definition in rows:
        groups.add(f"{kind} {name}", name, kind, definition)
