"""`python -m ci.new <schema|data|seed> <slug>`: the next migration file and its rollback stub.

The number is the next free one in the track (schema and data share the main track; seeds have
their own). Main-track migrations get `rollback/NNNN_rollback.sql`. Prints the created paths.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ci.cli import add_migrations_dir, run_program
from ci.model import (
    DEFAULT_MIGRATIONS_DIR,
    ROLLBACK_FOLDER,
    SEED_FOLDER,
    InputError,
    Migration,
    discover,
)

KINDS = ("schema", "data", "seed")
SLUG = re.compile(r"^[a-z0-9_]+$")
MIN_WIDTH = 4

HINTS = {
    "schema": "DDL only: CREATE/ALTER/DROP. Data changes go in a data migration.",
    "data": "DML on existing rows only; every UPDATE/DELETE needs a WHERE.",
    "seed": "Reference data; must be idempotent (INSERT OR IGNORE, ON CONFLICT, WHERE NOT EXISTS).",
}
DIRECTIVES = {
    "schema": [
        '"-- @irreversible <reason>"   no rollback exists by design (then delete the stub)',
        '"-- @no-transaction"          run statement by statement (e.g. VACUUM)',
    ],
    "data": [
        '"-- @irreversible <reason>"   no rollback exists by design (then delete the stub)',
        '"-- @batch 10000"             ONE statement using :batch_size, repeated until 0 rows',
        '"-- @progress SELECT COUNT(*) FROM ..."   total rows, for progress and ETA',
        '"-- @allow-row-loss <table>"  this migration may delete rows of <table>',
    ],
    "seed": [],
}


def next_number(migrations: list[Migration]) -> tuple[int, int]:
    """(next free number, zero-pad width) for a track."""
    if not migrations:
        return 1, MIN_WIDTH
    width = max(len(m.path.name.split("_", 1)[0]) for m in migrations)
    return max(m.version for m in migrations) + 1, max(width, MIN_WIDTH)


def migration_text(kind: str, name: str) -> str:
    lines = [f"-- {name}: <what this migration does, and why>", f"-- {HINTS[kind]}"]
    if DIRECTIVES[kind]:
        lines.append("-- Directives go on their own lines above the first statement, e.g.:")
        lines += [f"--   {hint}" for hint in DIRECTIVES[kind]]
    return "\n".join(lines) + "\n\n"


def rollback_text(kind: str, name: str) -> str:
    return (
        f"-- Rollback of {kind}/{name}: undo each of its changes, in reverse order.\n"
        "-- ci.rollback_roundtrip checks that schema and data return to what they were.\n\n"
    )


def create(migrations_dir: Path, kind: str, slug: str) -> list[Path]:
    """Create the migration (and for the main track its rollback stub); return the paths."""
    if not SLUG.match(slug):
        raise InputError(
            f"bad slug '{slug}': use lower-case letters, digits and _ (e.g. add_patient_index)"
        )
    try:
        migrations_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{migrations_dir}: cannot create: {error.strerror}") from None
    catalog = discover(migrations_dir)
    track = catalog.seeds if kind == SEED_FOLDER else catalog.main
    number, width = next_number(track)
    name = f"{number:0{width}d}_{slug}.sql"
    created = [(migrations_dir / kind / name, migration_text(kind, name))]
    if kind != SEED_FOLDER:
        rollback = f"{number:0{width}d}_rollback.sql"
        created.append((migrations_dir / ROLLBACK_FOLDER / rollback, rollback_text(kind, name)))
    for path, _ in created:
        if path.exists() or path.is_symlink():
            raise InputError(f"{path}: already exists; not overwriting it")
    for path, text in created:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8", newline="\n") as out:
                out.write(text)
        except OSError as error:
            raise InputError(f"{path}: cannot create: {error.strerror}") from None
    return [path for path, _ in created]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ci.new", description="Create the next migration file and its rollback."
    )
    parser.add_argument("kind", choices=KINDS, help="schema, data (main track) or seed")
    parser.add_argument("slug", help="what it does, [a-z0-9_]+, e.g. add_patient_index")
    add_migrations_dir(parser, default=Path(DEFAULT_MIGRATIONS_DIR))
    args = parser.parse_args(argv)
    try:
        paths = create(args.migrations_dir, args.kind, args.slug)
    except InputError as error:
        print(f"new: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_program(main))
