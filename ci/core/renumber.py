"""`python -m ci.new --renumber FILE`: move this branch's migration to the next free number
when the branch it merges into took its number (MG101 after a merge, MG108 at review).

The new number is the one `ci.new` would give now (above the local files and the base ref's
tip, see ci.core.ref_numbers). The migration's rollback file moves with it, unless that file is
already merged (then it undoes the other branch's migration of that number, and this one needs
its own: said in one line); in the middle of a `git merge`, a file whose content is the merged-in
side's counts as merged, as it does after a rebase. The lock's entry for the old name, if any,
gives way to one for the new name. Refused, before anything moves, for a migration that is
already merged (on the merge base with the base ref, or committed when there is no such
branch): applied files are never renumbered. Files are renamed in the work tree; `git add -A`
stages the move.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ci.core import gitrefs, lockfile
from ci.core.model import InputError, Migration, discover, label_of
from ci.core.ref_numbers import base_numbers, highest


def renumber(
    migrations_dir: Path, name: str, *, base_ref: str | None, lock_path: Path | None
) -> list[tuple[Path, Path]]:
    """Move the migration `name` (and its rollback) to the next free number; the moves made."""
    catalog = discover(migrations_dir)
    root = catalog.root
    m = _migration_named(catalog.all_migrations(), Path(name))
    merged = _merged(migrations_dir)
    if _relative(root, m.path) in merged:
        raise InputError(
            f"{m.path}: already merged, so it may be applied somewhere; applied migrations keep "
            "their number (renumber the other, unmerged file)"
        )
    track = catalog.seeds if m.track == "seed" else catalog.main
    ref, numbers = base_numbers(migrations_dir, base_ref)
    base_top, base_width = highest(numbers, m.track)
    others = [o.version for o in track if o is not m]
    if m.version > max([base_top, *others], default=0) and m.version not in others:
        print(f"new: {m.path}: {m.label} is free{_on(ref)}; nothing to renumber", file=sys.stderr)
        return []
    number = max([base_top, *(o.version for o in track)]) + 1
    width = max(len(m.path.name.split("_", 1)[0]), base_width, 4)
    moves = [(m.path, m.path.with_name(f"{number:0{width}d}_{m.slug}.sql"))]
    rollback = m.rollback.path if m.rollback is not None else None
    if rollback is not None and _relative(root, rollback) not in merged:
        suffix = rollback.name.split("_", 1)[1]
        moves.append((rollback, rollback.with_name(f"{number:0{width}d}_{suffix}")))
    elif m.track == "main":
        print(
            f"new: write the rollback of {m.path.name} as "
            f"{label_of(m.track, number)}'s: rollback/{number:0{width}d}_rollback.sql"
            + (f" ({rollback} is merged: it undoes the other {m.label})" if rollback else ""),
            file=sys.stderr,
        )
    lock = _lock_to_fix(migrations_dir, lock_path, _relative(root, m.path))  # before any move
    _move(moves)
    if lock is not None:
        _fix_lock(lock, root, moves[0])
    return moves


def _migration_named(migrations: list[Migration], wanted: Path) -> Migration:
    target = wanted.resolve()
    for m in migrations:
        if m.path.resolve() == target:
            return m
    raise InputError(f"{wanted}: not a migration of the migrations directory")


def _merged(migrations_dir: Path) -> set[str]:
    """Paths (from the migrations root) that are the other side's: at the merge base with the
    branch this merges into (after a rebase onto it, that holds its files), or, in the middle
    of a `git merge`, unchanged from the side being merged in."""
    found = gitrefs.merged_paths(migrations_dir)
    return (found[1] if found is not None else set()) | gitrefs.merging_in(migrations_dir)


def _on(ref: str | None) -> str:
    return f" here and on {ref}" if ref else ""


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _move(moves: list[tuple[Path, Path]]) -> None:
    for _, new in moves:
        if new.exists() or new.is_symlink():
            raise InputError(f"{new}: already exists; not overwriting it")
    for old, new in moves:
        try:
            old.rename(new)
        except OSError as error:
            raise InputError(f"{old}: cannot rename: {error.strerror}") from None


def _lock_to_fix(migrations_dir: Path, lock_path: Path | None, old: str) -> lockfile.Lock | None:
    """The lock, when it has an entry for the old name (checked writable before any move)."""
    lock = lockfile.read(lock_path or lockfile.default_path(migrations_dir))
    if lock is None or old not in lock.entries:
        return None
    lockfile.writable(lock)
    return lock


def _fix_lock(lock: lockfile.Lock, root: Path, move: tuple[Path, Path]) -> None:
    """The lock's entry for the old name becomes the new name's."""
    old, new = _relative(root, move[0]), _relative(root, move[1])
    lockfile.rehash(lock, old, None)
    renewed = lockfile.read(lock.path)
    assert renewed is not None  # just written
    lockfile.update(renewed, {new: move[1].read_bytes()})
    print(f"{lock.path}: entry {old} is now {new}", file=sys.stderr)
