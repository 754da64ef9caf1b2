"""Tables, views and what belongs to them, from the rows of ci.db.postgres.fingerprint_catalog's
queries: each relation's group with its columns, indexes, constraints (with their validity),
triggers, policies, rules, table options and comments.

A column reads as SQLite's do (name, type, NOT NULL, default, place in the primary key); its
collation (when not the type's) joins the type, identity and generation its default, so a
difference says which. An index that a constraint owns (PRIMARY KEY, UNIQUE, EXCLUDE) is named
by the constraint, not twice.
"""

from __future__ import annotations

from ci.db.fingerprint_records import Column, ForeignKey, Index
from ci.db.postgres.fingerprint_catalog import RELKINDS, TABLE_KINDS, Groups, Rows
from ci.db.postgres.fingerprint_data import DataTable

# pg_constraint's ON UPDATE / ON DELETE codes in the words of `PRAGMA foreign_key_list`
FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
INDEX_ORIGINS = {"p": "pk", "u": "u", "x": "x"}  # else "c": CREATE INDEX
TRIGGER_STATES = {"D": " DISABLED", "R": " ENABLE REPLICA", "A": " ENABLE ALWAYS"}
STORAGES = {"p": "PLAIN", "e": "EXTERNAL", "m": "MAIN", "x": "EXTENDED"}
COMPRESSIONS = {"p": "pglz", "l": "lz4"}


def read_relations(groups: Groups, rows: Rows, sequences: dict[str, str]) -> list[DataTable]:
    """The groups of tables, views, sequences and composite types; returns (key, schema, name)
    of each table that holds rows of its own (whose content the data part reads)."""
    tables: list[DataTable] = []
    for name, relkind, persistence, rls, force_rls, options, partkey, bound, parents, *rest in rows:
        viewdef, comment, privileges, schema, relname, replica_identity, clustered = rest
        kind = RELKINDS[relkind]
        if relkind in TABLE_KINDS:
            groups.add(name, name, "table", kind)
            if relkind == "r":
                tables.append((name, schema, relname))
        elif relkind == "S":
            groups.add(name, name, "sequence", sequences.get(name, ""))
        else:
            groups.add(name, name, kind, viewdef or "")
        for option, value in (
            ("partitioned by", partkey),
            ("partition of", f"{parents} {bound}" if bound else None),
            ("inherits", None if bound else parents),
            ("persistence", "UNLOGGED" if persistence == "u" else None),
            ("row level security", _row_security(rls, force_rls)),
            ("storage parameters", options),
            ("privileges", privileges),
            ("replica identity", replica_identity),
            ("clustered on", clustered),
        ):
            groups.part(name, "option", option, value or None)
        groups.part(name, "comment", f"on {kind} {name}", comment)
    return tables


def _row_security(enabled: bool, forced: bool) -> str | None:
    if not enabled:
        return "FORCE" if forced else None
    return "ENABLE, FORCE" if forced else "ENABLE"


def read_columns(groups: Groups, rows: Rows) -> None:
    for table, number, name, type_, notnull, default, identity, generated, *rest in rows:
        collation, pk, comment, storage, statistics, compression, privileges = rest
        group = groups.get(table)
        if group is None:  # a runner's table, or an extension's
            continue
        # what ALTER COLUMN ... SET sets, when not the default: options named `column <name>: `
        for option, value in (
            ("storage", STORAGES.get(storage)),
            ("statistics target", None if statistics is None else str(statistics)),
            ("compression", COMPRESSIONS.get(compression)),
            ("privileges", privileges),
        ):
            groups.part(table, "option", f"column {name}: {option}", value)
        if collation is not None:
            type_ = f'{type_} COLLATE "{collation}"'
        column = Column(name, type_, int(notnull), _default(default, identity, generated), pk, 0)
        group.columns.append((number, column))
        groups.part(table, "comment", f"on column {table}.{name}", comment)


def _default(default: str | None, identity: str, generated: str) -> str | None:
    if identity:
        return f"GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY"
    if generated:
        return f"GENERATED ALWAYS AS ({default}) STORED"
    return default


def read_indexes(groups: Groups, rows: Rows) -> None:
    for table, name, definition, unique, valid, partial, contype, columns, *rest in rows:
        comment, parameters = rest
        group = groups.get(table)
        if group is None:
            continue
        if contype is not None:  # pg_get_constraintdef leaves its index's WITH (...) out
            groups.part(table, "option", f"index {name}: storage parameters", parameters or None)
        origin = INDEX_ORIGINS.get(contype, "c")
        group.indexes.append(Index(name, int(unique), origin, int(partial), tuple(columns)))
        if contype is None:
            groups.part(table, "index", name, definition + ("" if valid else " INVALID"))
        groups.part(table, "comment", f"on index {name}", comment)


def read_constraints(groups: Groups, rows: Rows) -> None:
    for table, name, contype, definition, _, parent, columns, *rest in rows:
        parent_columns, on_update, on_delete, comment = rest
        group = groups.get(table)
        if group is None:
            continue
        # pg_get_constraintdef ends with " NOT VALID" while the constraint is not validated
        groups.part(table, "constraint", name, definition)
        if contype == "f":
            key = ForeignKey(
                tuple(columns),
                parent,
                tuple(parent_columns),
                FK_ACTIONS[on_update],
                FK_ACTIONS[on_delete],
            )
            group.foreign_keys.append(key)
        groups.part(table, "comment", f"on constraint {name}", comment)


def read_triggers(groups: Groups, rows: Rows) -> None:
    for table, name, definition, enabled, comment in rows:
        groups.part(table, "trigger", name, definition + TRIGGER_STATES.get(enabled, ""))
        groups.part(table, "comment", f"on trigger {name}", comment)


def read_policies(groups: Groups, rows: Rows) -> None:
    for table, kind, name, definition in rows:
        groups.part(table, kind, name, definition)
