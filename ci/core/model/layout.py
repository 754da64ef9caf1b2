"""How a migrations directory is laid out: its folders, the file naming rule, tracks, labels.

Also the one error for input that cannot be used, `InputError`: its message is one line naming the
file (and the line), which the checks turn into a finding.
"""

from __future__ import annotations

import re
from pathlib import Path

from ci.core.sqltext import LazyPattern

MAIN_FOLDERS = ("schema", "data")
SEED_FOLDER = "seed"
ROLLBACK_FOLDER = "rollback"
KNOWN_FOLDERS = (*MAIN_FOLDERS, SEED_FOLDER, ROLLBACK_FOLDER)
DEFAULT_MIGRATIONS_DIR = "schema/migrations"

NAME = re.compile(r"^(?P<number>\d{4,})_(?P<slug>[a-z0-9_]+)\.sql$")
# Migration numbers: 0 reads as "nothing applied" (and --rollback 0 would mean everything), and
# a number of more than nine digits is a typo or a timestamp, not the next number of a sequence
# that is never skipped; both would be printed as the database's version.
FIRST_VERSION, LAST_VERSION = 1, 999_999_999
VERSION_RANGE = f"{FIRST_VERSION:04d} and {LAST_VERSION}"
LOOSE_NAME = LazyPattern(r"^(?P<number>-?\d+)[_-]?(?P<rest>.*)$")


class InputError(Exception):
    """A user's file or argument that cannot be used; the message is one line naming it."""


def track_of(kind: str) -> str:
    """The track of a migration kind (or `migration_type`): 'seed', or 'main' for the others."""
    return "seed" if kind == SEED_FOLDER else "main"


def label_of(track: str, version: int) -> str:
    """How reports name a migration: `0005`, or `seed-0001` on the seed track."""
    number = f"{version:04d}"
    return f"seed-{number}" if track == "seed" else number


def parse_name(name: str) -> tuple[int, str] | None:
    """`0005_add_adt.sql` -> (5, "add_adt"); None when the name does not follow the naming
    rule (including a number outside FIRST_VERSION..LAST_VERSION)."""
    match = NAME.match(name)
    if match is None:
        return None
    number = int(match["number"])
    return (number, match["slug"]) if FIRST_VERSION <= number <= LAST_VERSION else None


def version_in_range(number: int) -> bool:
    return FIRST_VERSION <= number <= LAST_VERSION


def missing_migrations_dir(root: Path) -> InputError:
    """The one wording every command uses (so `python -m ci` can say it once for all checks)."""
    return InputError(
        f"{root}: migrations directory not found (run from the project root, where "
        "migration-guard.yaml is, or give --migrations-dir)"
    )
