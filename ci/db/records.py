"""The records the bookkeeping reads and writes: a `schema_version` row (AppliedRow), an open
dirty mark (DirtyMark), and what a row says about one migration (Entry).

Plain classes (ci.core.findings.Record), not frozen dataclasses: one is made per migration or
per schema_version row, and `import dataclasses` costs ~10 ms of the start-up of ci.migrate,
whose whole process the performance budgets (docs/design.md) measure. Treat them as immutable.
"""

from __future__ import annotations

from ci.core.findings import Record
from ci.core.model import label_of, track_of
from ci.db.holders import holder_name, holder_of
from ci.db.tables import COLUMNS


class Tracked(Record):
    """A record about one migration, by number and `migration_type`: its track and label."""

    __slots__ = ()
    version: int
    migration_type: str

    @property
    def track(self) -> str:
        return track_of(self.migration_type)

    @property
    def label(self) -> str:
        return label_of(self.track, self.version)


class AppliedRow(Tracked):
    """One row of `schema_version` (columns an older table lacks are None)."""

    FIELDS = COLUMNS  # a row of the table, column for column
    # and its track, worked out once: asked several times per row on every start-up (sorting,
    # pairing with its file, what is pending, its label)
    __slots__ = (*FIELDS, "track")
    track: str

    def __init__(
        self,
        version: int,
        migration_type: str,
        description: str,
        file_hash: str | None,
        applied_at: str | None,
        execution_time_ms: int | None,
        rows_affected: int | None,
        applied_by: str | None,
        code_hash: str | None,
    ) -> None:
        self.version = version
        self.migration_type = migration_type
        self.description = description
        self.file_hash = file_hash
        self.applied_at = applied_at
        self.execution_time_ms = execution_time_ms
        self.rows_affected = rows_affected
        self.applied_by = applied_by
        self.code_hash = code_hash
        self.track = track_of(migration_type)


class DirtyMark(Tracked):
    """An open dirty mark: a migration that started outside one transaction and did not finish."""

    FIELDS = (
        "id",
        "logged_at",
        "version",
        "migration_type",
        "description",
        "file_hash",
        "rows_done",
        "error",
        "owner",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        id: int,
        logged_at: str,
        version: int,
        migration_type: str,
        description: str,
        file_hash: str | None,
        rows_done: int,
        error: str | None,
        owner: str | None = None,  # the run holding it, see OWNER_PATTERN
    ) -> None:
        self.id = id
        self.logged_at = logged_at
        self.version = version
        self.migration_type = migration_type
        self.description = description
        self.file_hash = file_hash
        self.rows_done = rows_done
        self.error = error
        self.owner = owner

    def holder(self) -> tuple[str, str]:
        """(GONE, ALIVE or UNKNOWN, why) for the process that holds this mark (ci.db.holders)."""
        return holder_of(self.owner)

    @property
    def holder_name(self) -> str:
        """The holder in a message: 'process 123 on HOST (migration-guard 1.0)'."""
        return holder_name(self.owner)


class Entry(Tracked):
    """What a bookkeeping row says about one migration."""

    FIELDS = ("version", "migration_type", "description", "file_hash", "code_hash")
    __slots__ = FIELDS

    def __init__(
        self,
        version: int,
        migration_type: str,
        description: str,
        file_hash: str | None = None,
        code_hash: str | None = None,
    ) -> None:
        self.version = version
        self.migration_type = migration_type
        self.description = description
        self.file_hash = file_hash
        self.code_hash = code_hash
