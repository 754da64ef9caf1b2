"""The migrations directory as data: files, names, tracks, rollbacks, directives.

No SQLite connection is opened here. Reading a file that is not valid input raises `InputError`
with one line naming the file (and the line), which the checks turn into a finding.

- `layout`: folders, the naming rule, version range, tracks and labels, `InputError`
- `directives`: the `-- @word args` lines of a file
- `sqlfile`: reading one SQL file (regular files only), its text, statements and checksum
- `catalog`: the `Migration`, `Catalog` and `CatalogProblem` records
- `discovery`: listing a directory into a Catalog, rollback pairing

The records are plain classes with `__slots__`, not dataclasses: `discover` makes one SqlFile and
one Migration per file, and `import dataclasses` alone costs ~12 ms, for checks whose whole
process the performance budgets measure (numbering, checksums: 2x `python -c "import sqlite3"`).
They keep the dataclasses' constructors, `==` and `repr`.
"""

from __future__ import annotations

from ci.core.model.catalog import Catalog, CatalogProblem, Migration
from ci.core.model.directives import KNOWN_DIRECTIVES, Directives, parse_directives
from ci.core.model.discovery import discover
from ci.core.model.layout import (
    DEFAULT_MIGRATIONS_DIR,
    FIRST_VERSION,
    KNOWN_FOLDERS,
    LAST_VERSION,
    LOOSE_NAME,
    MAIN_FOLDERS,
    NAME,
    ROLLBACK_FOLDER,
    SEED_FOLDER,
    VERSION_RANGE,
    InputError,
    label_of,
    missing_migrations_dir,
    parse_name,
    track_of,
    version_in_range,
)
from ci.core.model.sqlfile import (
    DIRECTORY,
    FIFO,
    OTHER_SPECIAL,
    SqlFile,
    decode_sql,
    not_a_database_file,
    read_ahead,
    special_file_kind,
)

__all__ = [
    "DEFAULT_MIGRATIONS_DIR",
    "DIRECTORY",
    "FIFO",
    "FIRST_VERSION",
    "KNOWN_DIRECTIVES",
    "KNOWN_FOLDERS",
    "LAST_VERSION",
    "LOOSE_NAME",
    "MAIN_FOLDERS",
    "NAME",
    "OTHER_SPECIAL",
    "ROLLBACK_FOLDER",
    "SEED_FOLDER",
    "VERSION_RANGE",
    "Catalog",
    "CatalogProblem",
    "Directives",
    "InputError",
    "Migration",
    "SqlFile",
    "decode_sql",
    "discover",
    "label_of",
    "missing_migrations_dir",
    "not_a_database_file",
    "parse_directives",
    "parse_name",
    "read_ahead",
    "special_file_kind",
    "track_of",
    "version_in_range",
]
