"""The names and SQL of the runner's own tables, `schema_version` and `schema_version_log`.

`schema_version` has one row per applied migration. Identity is (track, version): a unique index
on `(migration_type = 'seed', version)` lets `seed/0001` coexist with `schema/0001` without a
redundant track column. `schema_version_log` is append-only: every apply, rollback and failure,
plus dirty marks (action 'dirty', `cleared_at` NULL while open).
"""

from __future__ import annotations

from ci import TOOL_NAME, __version__

TABLE = "schema_version"
LOG_TABLE = "schema_version_log"
IDENTITY_INDEX = "schema_version_identity"
# The names the runner's own SQL uses: qualified, so a temporary table or view of the same name
# (which unqualified names would find first) can never receive or hide the runner's rows.
MAIN_TABLE = f"main.{TABLE}"
MAIN_LOG_TABLE = f"main.{LOG_TABLE}"
APPLIED_BY = f"{TOOL_NAME} {__version__}"

COLUMNS = (
    "version",
    "migration_type",
    "description",
    "file_hash",
    "applied_at",
    "execution_time_ms",
    "rows_affected",
    "applied_by",
    "code_hash",
)
CREATE_TABLE = f"""CREATE TABLE {MAIN_TABLE} (
    version INTEGER NOT NULL,
    migration_type TEXT NOT NULL DEFAULT 'schema',
    description TEXT NOT NULL DEFAULT '',
    file_hash TEXT,
    applied_at TEXT,
    execution_time_ms INTEGER,
    rows_affected INTEGER,
    applied_by TEXT,
    code_hash TEXT{{extra}}
)"""
CREATE_INDEX = (
    f"CREATE UNIQUE INDEX main.{IDENTITY_INDEX} ON {TABLE} (migration_type = 'seed', version)"
)
LOG_COLUMNS = (
    "id",
    "logged_at",
    "action",
    "version",
    "migration_type",
    "description",
    "file_hash",
    "execution_time_ms",
    "rows_affected",
    "error",
    "cleared_at",
    "applied_by",
)
CREATE_LOG = f"""CREATE TABLE IF NOT EXISTS {MAIN_LOG_TABLE} (
    id INTEGER PRIMARY KEY,
    logged_at TEXT NOT NULL,
    action TEXT NOT NULL,
    version INTEGER,
    migration_type TEXT,
    description TEXT,
    file_hash TEXT,
    execution_time_ms INTEGER,
    rows_affected INTEGER,
    error TEXT,
    cleared_at TEXT,
    applied_by TEXT
)"""

# The statements run once per migration, built once (the same string object each time, so
# the sqlite3 module's statement cache finds it without hashing a new string)
RECORD = f"INSERT INTO {MAIN_TABLE} ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
IS_APPLIED = f"SELECT 1 FROM {MAIN_TABLE} WHERE (migration_type = 'seed') = ? AND version = ?"
APPLIED_SEEDS = (
    f"SELECT version, description, file_hash FROM {MAIN_TABLE} "
    "WHERE (migration_type = 'seed') = 1 ORDER BY version"
)
RECORDED = (
    f"SELECT 1 FROM {MAIN_TABLE} WHERE (migration_type = 'seed') = ? AND version = ? "
    "AND migration_type IS ? AND file_hash IS ? AND code_hash IS ?"
)
UNRECORD = f"DELETE FROM {MAIN_TABLE} WHERE (migration_type = 'seed') = ? AND version = ?"
LOG = (
    f"INSERT INTO {MAIN_LOG_TABLE} (logged_at, action, version, migration_type, description, "
    "file_hash, execution_time_ms, rows_affected, error, applied_by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# Columns of older tables (the seed document's, other tools') that carry one of ours.
ALIASES = {
    "description": ("description", "name", "slug"),
    "file_hash": ("file_hash", "checksum", "hash", "sha256"),
    "applied_at": ("applied_at", "applied_on", "installed_on", "created_at"),
    "execution_time_ms": ("execution_time_ms", "execution_time", "duration_ms"),
    "rows_affected": ("rows_affected",),
    "applied_by": ("applied_by", "installed_by"),
    "migration_type": ("migration_type", "type", "kind"),
}


def quoted(name: str | None) -> str:
    """A name as an SQL identifier in double quotes."""
    assert name is not None
    return '"' + name.replace('"', '""') + '"'


class UpgradeRefused(Exception):
    """An older `schema_version` has something the upgrade cannot keep (ci.db.upgrade); nothing
    was changed."""
