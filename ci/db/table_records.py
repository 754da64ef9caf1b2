"""The records of a table's shape as SQLite's PRAGMAs give them (columns, indexes, foreign keys)
and its sqlite_master objects: shared by the fingerprints (ci.db.fingerprint_records) and the
schema-change analysis (ci.db.schema_shapes). NamedTuples only: this module costs nothing to
import beyond `typing`, which the analysis's start-up needs anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Column(NamedTuple):
    name: str
    type: str
    notnull: int
    default: str | None
    pk: int
    hidden: int


class Index(NamedTuple):
    name: str
    unique: int
    origin: str
    partial: int
    columns: tuple[str | None, ...]


class ForeignKey(NamedTuple):
    columns: tuple[str, ...]
    table: str
    to: tuple[str | None, ...]
    on_update: str
    on_delete: str


class SchemaObject(NamedTuple):
    type: str
    name: str
    sql: str  # fingerprints keep it normalised (normalise_sql); the analysis as stored


def foreign_keys(by_id: Mapping[Any, list[tuple[object, ...]]]) -> tuple[ForeignKey, ...]:
    """ForeignKeys from `PRAGMA foreign_key_list` rows (id, seq, table, from, to, on_update,
    on_delete, ...) grouped by id; sorted, so two reads of one schema compare equal."""
    keys = []
    for rows in by_id.values():
        rows.sort(key=lambda r: int(str(r[1])))
        keys.append(
            ForeignKey(
                tuple(str(r[3]) for r in rows),
                str(rows[0][2]),
                tuple(None if r[4] is None else str(r[4]) for r in rows),
                str(rows[0][5]),
                str(rows[0][6]),
            )
        )
    return tuple(sorted(keys))
