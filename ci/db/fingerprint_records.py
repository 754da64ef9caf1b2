"""The records a fingerprint is made of: a `Fingerprint` maps each group (a table or view, keyed by
its lower-case name) to a `TablePrint` (its objects, columns, indexes, foreign keys, row count and
content hash), plus the database header values migrations set. Pure data: reading them is
ci.db.fingerprint_schema and ci.db.fingerprint_data, comparing them ci.db.fingerprint_diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

# re-exported: the fingerprint's users import the records from here
from ci.db.table_records import Column as Column
from ci.db.table_records import ForeignKey as ForeignKey
from ci.db.table_records import Index as Index
from ci.db.table_records import SchemaObject as SchemaObject


class TablePrint(NamedTuple):
    """One table or view: its objects, shape and (for tables) row count and content hash; with
    the content also a hash of the rowid values (None when a column holds them: an INTEGER
    PRIMARY KEY, or WITHOUT ROWID) and the AUTOINCREMENT counter (None without AUTOINCREMENT)."""

    name: str
    objects: tuple[SchemaObject, ...]
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    rows: int | None = None
    digest: str | None = None
    rowids: str | None = None
    sequence: int | None = None

    @property
    def kind(self) -> str:
        types = {o.type for o in self.objects}
        return "table" if "table" in types else "view" if "view" in types else "object"


# Values in the database header that migrations set and a rollback must set back.
HEADER_PRAGMAS = ("user_version", "application_id")


@dataclass(frozen=True)
class Fingerprint:
    groups: Mapping[str, TablePrint] = field(default_factory=dict)
    # (pragma, value) for HEADER_PRAGMAS, read by the Tracker; empty when not read (a schema
    # snapshot has no header to compare)
    header: tuple[tuple[str, int], ...] = ()
    # the tables (lower-case names) ANALYZE left statistics for in sqlite_stat1/4; None when not
    # read (a schema snapshot or a baseline has none to compare)
    statistics: tuple[str, ...] | None = None

    def schema_only(self) -> Fingerprint:
        return Fingerprint(
            {
                k: g._replace(rows=None, digest=None, rowids=None, sequence=None)
                for k, g in self.groups.items()
            },
            self.header,
        )  # statistics go with the data: None, not compared
