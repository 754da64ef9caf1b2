"""Schema and data fingerprints of a PostgreSQL database, read from pg_catalog: the same
`Fingerprint` records as SQLite's (ci.db.fingerprint_records), so the checks compare and report
them alike; differences in words are ci.db.postgres.fingerprint_wording's.

A group is a table (partitioned or foreign too), view, materialized view, sequence or type,
keyed by its name (schema-qualified outside `public`), or a routine, collation, event trigger,
extension or schema, keyed by kind and name: `routine f(integer)`, `extension pgcrypto`. Each
group holds its main object and what belongs to it: columns, indexes, constraints, triggers,
policies, rules, statistics, options (privileges, replica identity, CLUSTER ON, a column's
storage, statistics target, compression and privileges, ...), comments; `ALTER DEFAULT
PRIVILEGES` are groups of their own. Tables also hold their row count and, with `content`, a
hash of their rows; sequences, with `content`, their value (in `digest`).

Every read runs in a transaction of its own that is rolled back (a savepoint when the caller has
one open, so it sees the caller's uncommitted work): it fixes the settings that change how the
server prints definitions and values (search_path, time zone, date style, ...) and so compares
alike whatever the session had, and it leaves the session's settings as they were.

Fingerprints take a connection; they never open one.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, NamedTuple

from ci.db.fingerprint_records import Fingerprint, TablePrint
from ci.db.postgres import fingerprint_catalog as catalog
from ci.db.postgres import fingerprint_objects as objects
from ci.db.postgres import fingerprint_tables as tables
from ci.db.postgres.fingerprint_data import DataTable, read_data
from ci.db.postgres.fingerprint_wording import DRIFT, REAPPLY, ROLLBACK, describe_differences

if TYPE_CHECKING:
    import psycopg

    from ci.db.postgres.fingerprint_data import Cursor

__all__ = [
    "DRIFT",
    "REAPPLY",
    "ROLLBACK",
    "describe_differences",
    "fingerprint",
    "schema_fingerprint",
]

# How the server prints names, values and expressions: fixed for the read, so two sessions
# (or two databases) with other settings still print the same schema and rows the same way.
SETTINGS = {
    "search_path": "public",
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "quote_all_identifiers": "off",
    "standard_conforming_strings": "on",
}


def fingerprint(conn: psycopg.Connection[Any], *, content: bool = True) -> Fingerprint:
    """Schema and row counts, and with `content` a hash of every table's rows."""
    return _read(conn, content=content)


def schema_fingerprint(conn: psycopg.Connection[Any]) -> Fingerprint:
    """The schema part only: no row counts."""
    return _read(conn, content=None)


def _read(conn: psycopg.Connection[Any], *, content: bool | None) -> Fingerprint:
    from psycopg import pq
    from psycopg.rows import tuple_row

    top_level = conn.info.transaction_status == pq.TransactionStatus.IDLE
    with conn.transaction(force_rollback=True), conn.cursor(row_factory=tuple_row) as cursor:
        # tuples whatever row factory the caller's connection has
        if top_level:  # one snapshot for every query of the read
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        fix_settings(cursor)
        groups, data_tables = read_catalog(cursor)
        data = {} if content is None else read_data(cursor, data_tables, content=content)
        printed = {key: group_print(key, group, data) for key, group in groups.items()}
        if content is not None:
            with_sequence_values(cursor, printed)
    return Fingerprint(printed)


def with_sequence_values(cursor: Cursor, groups: dict[str, TablePrint]) -> None:
    """Each sequence's state in its group's `digest` (a sequence has no rows): read on every
    read, as no catalog row says it moved."""
    for key, state in cursor.execute(objects.SEQUENCE_VALUES).fetchall():
        if key in groups and groups[key].digest != state:  # else the group read before stays
            groups[key] = groups[key]._replace(digest=state)


def fix_settings(cursor: Cursor) -> None:
    """SETTINGS for the rest of the read's transaction."""
    calls = ", ".join(["set_config(%s, %s, true)"] * len(SETTINGS))
    cursor.execute(f"SELECT {calls}", [v for item in SETTINGS.items() for v in item])


class Only(NamedTuple):
    """The groups a read is limited to, by the OID of the object each is named after, and the
    catalogs they have rows in (None: any; a query of the others would find nothing)."""

    relations: Collection[int]
    types: Collection[int]
    routines: Collection[int]
    catalogs: Collection[str] | None = None


def read_catalog(
    cursor: Cursor, only: Only | None = None
) -> tuple[catalog.Groups, list[DataTable]]:
    """Every group (or, with `only`, those groups and no collation, event trigger, extension
    or schema), and the tables whose rows the data part reads."""

    relations, types, routines, catalogs = (None, None, None, None) if only is None else only
    params = catalog.only_params(relations, types, routines) or None

    def rows(query: str) -> catalog.Rows:
        return cursor.execute(query, params).fetchall()

    def has(*names: str) -> bool:
        return catalogs is None or any(name in catalogs for name in names)

    among = catalog.among
    groups = catalog.Groups()
    data_tables: list[DataTable] = []
    if relations is None or relations:  # (a query for no OID finds nothing: not asked)
        sequences: dict[str, str] = {}
        if has("pg_sequence"):
            query = objects.SEQUENCES + among("c.oid", relations)
            sequences = objects.sequence_definitions(rows(query))
        data_tables = tables.read_relations(
            groups, rows(catalog.relations_query(relations)), sequences
        )
        tables.read_columns(groups, rows(catalog.columns_query(relations)))
        if has("pg_index"):
            tables.read_indexes(groups, rows(catalog.indexes_query(relations)))
        if has("pg_constraint"):
            tables.read_constraints(groups, rows(catalog.constraints_query(relations)))
        if has("pg_trigger"):
            tables.read_triggers(groups, rows(catalog.triggers_query(relations)))
        if has("pg_policy", "pg_rewrite", "pg_statistic_ext"):
            tables.read_policies(groups, rows(catalog.policies_query(relations)))
    if types is None or types:
        objects.read_types(groups, rows(objects.TYPES + among("t.oid", types, "types")))
    if routines is None or routines:
        objects.read_routines(groups, rows(objects.ROUTINES + among("p.oid", routines, "routines")))
    if only is None:
        objects.read_named(groups, "collation", rows(objects.COLLATIONS))
        objects.read_named(groups, "event trigger", rows(objects.EVENT_TRIGGERS))
        objects.read_extensions(groups, rows(objects.EXTENSIONS))
        objects.read_schemas(groups, rows(objects.SCHEMAS))
        objects.read_named(groups, "default privileges", rows(objects.DEFAULT_PRIVILEGES))
    return groups, data_tables


def group_print(
    key: str, group: catalog.Group, data: dict[str, tuple[int, str | None]]
) -> TablePrint:
    rows, digest = data.get(key, (None, None))
    return TablePrint(
        group.name,
        tuple(sorted(group.objects)),
        tuple(column for _, column in sorted(group.columns)),
        tuple(sorted(group.indexes)),
        tuple(sorted(group.foreign_keys)),
        rows,
        digest,
    )
