"""`python -m ci.new <schema|data|seed> <slug>`: the next migration file and its rollback stub.

The number is the next free one in the track (schema and data share the main track; seeds have
their own), above the local files and the base ref's migrations (see ci.core.ref_numbers).
Main-track migrations get `rollback/NNNN_rollback.sql`. Prints the created paths. The templates
follow the project's engine (`engine:` in the config file): no VACUUM advice for PostgreSQL.

The stub is not added to the lock: nothing has applied it, and an entry for the stub would make
the commit of the migration the user then writes fail (MG210). The lock takes the file at
commit: the `migration-lock-update` hook (which runs at commit too) or `ci.checksums --update`.
`python -m ci.new --renumber FILE` moves this branch's migration to the next free number
(ci.core.renumber). `migrations_dir`, `lock` and `base_ref` may come from the config file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ci.app.cli import ArgumentParser, add_migrations_dir, parse
from ci.app.config import DEFAULT_CONFIG
from ci.app.program import run_as_process
from ci.core.model import (
    ROLLBACK_FOLDER,
    SEED_FOLDER,
    InputError,
    Migration,
    discover,
    label_of,
    track_of,
)
from ci.core.ref_numbers import base_numbers, highest

KINDS = ("schema", "data", "seed")
SLUG = re.compile(r"^[a-z0-9_]+$")
MIN_WIDTH = 4

HINTS = {
    "schema": "DDL only: CREATE/ALTER/DROP. Data changes go in a data migration.",
    "data": "DML on existing rows only; every UPDATE/DELETE needs a WHERE.",
    "seed": "Reference data; must be idempotent (INSERT OR IGNORE, ON CONFLICT, WHERE NOT EXISTS).",
}
IRREVERSIBLE = '"-- @irreversible <reason>"   no rollback exists by design (then delete the stub)'
DIRECTIVES = {
    "schema": [
        IRREVERSIBLE,
        '"-- @no-transaction"          run statement by statement (e.g. VACUUM)',
    ],
    "data": [
        IRREVERSIBLE,
        '"-- @batch 10000"             ONE statement using :batch_size, repeated until 0 rows',
        '"-- @progress SELECT COUNT(*) FROM ..."   total rows, for progress and ETA',
        '"-- @allow-row-loss <table>"  this migration may delete rows of <table>',
        '"-- @rewrites <table>(<col>)"  this migration may change or NULL values of <col>',
    ],
    "seed": [],
}
# A PostgreSQL project's templates: its own words where SQLite's would mislead (VACUUM is no
# reason for @no-transaction there, INSERT OR IGNORE is not its syntax, @batch is SQLite's only).
POSTGRES_HINTS = {
    **HINTS,
    "seed": "Reference data; must be idempotent (INSERT ... ON CONFLICT DO NOTHING, WHERE NOT "
    "EXISTS).",
}
POSTGRES_DIRECTIVES = {
    "schema": [
        IRREVERSIBLE,
        '"-- @no-transaction"          outside a transaction (e.g. CREATE INDEX CONCURRENTLY)',
    ],
    "data": [
        IRREVERSIBLE,
        '"-- @no-transaction"          outside a transaction, statement by statement',
        '"-- @allow-row-loss <table>"  this migration may delete rows of <table>',
        '"-- @rewrites <table>(<col>)"  this migration may change or NULL values of <col>',
    ],
    "seed": [],
}


def next_number(migrations: list[Migration], base: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """(next free number, zero-pad width) for a track; `base`: (highest number, width) of the
    track on the base ref, which the new number must also be above."""
    highest = max((m.version for m in migrations), default=0)
    width = max((len(m.path.name.split("_", 1)[0]) for m in migrations), default=0)
    return max(highest, base[0]) + 1, max(width, base[1], MIN_WIDTH)


def say_base(
    ref: str, track: str, local: list[Migration], base: tuple[int, int], there_only: bool
) -> None:
    """One stderr line: which ref was consulted and what it has, so a number that skips the
    local files' next one is explained (the gap closes when the ref is merged in); with
    `there_only` (the ref has a number this branch does not), a second: bring the ref in."""
    here = max((m.version for m in local), default=0)
    there = label_of(track, base[0]) if base[0] else "none"
    print(
        f"new: numbered above {ref} (highest there: {there}) and the local files "
        f"(highest: {label_of(track, here) if here else 'none'})",
        file=sys.stderr,
    )
    if there_only:  # the gap until the ref is in: the commit hook's MG102 says the same
        print(
            f"new: {ref} has migrations this branch does not: bring it in before you commit "
            f"(git merge {ref}, or git rebase {ref}), or the numbering check reports the gap",
            file=sys.stderr,
        )


def migration_text(kind: str, name: str, engine: str = "sqlite") -> str:
    postgres = engine == "postgresql"
    hints, directives = (POSTGRES_HINTS, POSTGRES_DIRECTIVES) if postgres else (HINTS, DIRECTIVES)
    lines = [f"-- {name}: <what this migration does, and why>", f"-- {hints[kind]}"]
    if directives[kind]:
        lines.append("-- Directives go on their own lines above the first statement, e.g.:")
        lines += [f"--   {hint}" for hint in directives[kind]]
    return "\n".join(lines) + "\n"  # one newline at the end: lint's LT12 on an untouched stub


def rollback_text(kind: str, name: str) -> str:
    return (
        f"-- Rollback of {kind}/{name}: undo each of its changes, in reverse order.\n"
        "-- ci.rollback_roundtrip checks that schema and data return to what they were; with\n"
        "-- no SQL here it fails (MG402). A change that cannot be undone: declare\n"
        "-- '-- @irreversible <reason>' in the migration and delete this file.\n"
    )


def refuse_repeat(track: list[Migration], slug: str) -> None:
    """Running the same `ci.new` twice (a shell history slip) would leave two stubs of one
    change; a slug that repeats the track's newest migration is taken for that slip."""
    newest = max(track, key=lambda m: m.version, default=None)
    if newest is not None and newest.slug == slug:
        raise InputError(
            f"{newest.path}: the newest migration is already '{slug}'; edit it, or choose "
            "another slug for a second migration"
        )


def create(
    migrations_dir: Path,
    kind: str,
    slug: str,
    *,
    base_ref: str | None = None,
    engine: str = "sqlite",
) -> list[Path]:
    """Create the migration (and for the main track its rollback stub); return the paths.
    `base_ref`: the ref whose migrations it is also numbered above (see ci.core.ref_numbers);
    `engine`: the project's, whose templates it writes."""
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
    refuse_repeat(track, slug)
    ref, numbers = base_numbers(migrations_dir, base_ref)  # after the checks of the input
    track_name = track_of(kind)
    top = highest(numbers, track_name)
    number, width = next_number(track, top)
    if ref is not None:
        there_only = bool(numbers.get(track_name, {}).keys() - {m.version for m in track})
        say_base(ref, track_name, track, top, there_only)
    name = f"{number:0{width}d}_{slug}.sql"
    created = [(migrations_dir / kind / name, migration_text(kind, name, engine))]
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


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        module="ci.new", description="Create the next migration file and its rollback."
    )
    parser.add_argument("kind", nargs="?", choices=KINDS, help="schema, data (main track) or seed")
    parser.add_argument("slug", nargs="?", help="what it does, [a-z0-9_]+, e.g. add_patient_index")
    parser.add_argument(
        "--renumber",
        metavar="FILE",
        help="instead: move this branch's unmerged migration FILE (and its rollback) to the "
        "next free number, and its lock entry with it",
    )
    parser.add_argument(
        "--lock",
        type=Path,
        default=None,
        help="with --renumber: the lock file (default: migrations.lock next to the "
        "migrations directory)",
    )
    add_migrations_dir(parser)
    parser.add_argument(
        "--base-ref",
        metavar="REF",
        default=None,
        help="also number above the migrations at this git ref, e.g. origin/main (default: the "
        "branch this one merges into: origin/HEAD, origin/main or main, when git knows one)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"config file (default: {DEFAULT_CONFIG} if present)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)  # migrations_dir, lock and base_ref may come from the config
    if (args.renumber is None) == (args.kind is None or args.slug is None) or (
        args.renumber is not None and args.kind is not None
    ):
        parser.error("give KIND SLUG for a new migration, or --renumber FILE alone")
    engine = str(getattr(args, "project_engine", None) or "sqlite")
    try:
        if args.renumber is not None:
            return _renumbered(args.migrations_dir, args.renumber, args.base_ref, args.lock)
        paths = create(
            args.migrations_dir, args.kind, args.slug, base_ref=args.base_ref, engine=engine
        )
    except InputError as error:
        print(f"new: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _renumbered(migrations_dir: Path, name: str, base_ref: str | None, lock: Path | None) -> int:
    from ci.core.renumber import renumber

    for old, new in renumber(migrations_dir, name, base_ref=base_ref, lock_path=lock):
        print(f"{old} -> {new}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
