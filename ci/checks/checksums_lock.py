"""The lock file side of the checksums check: its own problems, stale entries of unmerged work,
`--update` and `--rehash`, and accepting comment-only edits (the lock hooks).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ci.checks.checksums_applied import (
    NAME,
    Applied,
    Current,
    Unmerged,
    find_unmerged,
    from_base_ref,
    read_current,
    text_of,
)
from ci.core import fixes, lockfile
from ci.core.findings import Finding
from ci.core.model import InputError
from ci.core.sqltext import checksum_matches, same_statements


def lock_findings(
    lock: lockfile.Lock,
    current: Current,
    *,
    renamed: set[str],
    location: Sequence[str] = (),
) -> Iterator[Finding]:
    path = str(lock.path)
    update = fixes.lock_update(location)
    numbering = fixes.numbering_against("origin/main", location)
    fix = (
        f"take the target branch's lock (e.g. git checkout origin/main -- {path}), renumber "
        "your new migration if "
        + (numbering if numbering else "the target branch took its number")
        + (" asks" if numbering else "")
        + f", then run {update}"
    )
    if lock.conflict_line is not None:
        yield Finding(
            NAME, "MG205", path, lock.conflict_line, "the lock file has git conflict markers", fix
        )
        return  # the other lines are the two sides of the conflict
    if lock.stored_sum is None:
        message = f"the first line is not the lock header '{lockfile.HEADER}<sha256>'"
        yield Finding(NAME, "MG205", path, 1, message, fix)
    elif not lock.sum_ok:
        message = "the lock file's sum does not match its entries (edited by hand or merged badly)"
        yield Finding(NAME, "MG205", path, 1, message, fix)
    for number, message in lock.problems:
        if number != 1:
            yield Finding(NAME, "MG207", path, number, f"bad lock line: {message}", fix)
    for relative in current.files:
        if relative not in lock.entries and current.display(relative) not in renamed:
            yield Finding(
                NAME,
                "MG204",
                current.display(relative),
                None,
                f"not in the lock file {path}",
                f"run {update} and commit the lock file with the migration",
            )


def unmerged_findings(
    lock: lockfile.Lock,
    current: Current,
    unmerged: Unmerged,
    location: Sequence[str],
    *,
    ran: dict[str, str] | None = None,
) -> list[Finding]:
    """MG210: an out-of-date entry of this branch's own work (edited, renamed or deleted).
    `ran`: {path: source} of the files a `--db` ran as they are now (only the lock is stale)."""
    findings = []
    unlocked = {p: current.checksums[p] for p in current.data if p not in lock.entries}
    for relative in sorted(unmerged.paths, key=lockfile.sort_key):
        entry = lock.entries[relative]
        if relative in current.files:
            path = current.display(relative)
            nobody = "so no database has run it and editing it is fine"
            if ran and relative in ran:  # a --db ran it as it is: that agrees with the file
                nobody = f"and {ran[relative]} ran its current text, so only the lock is stale"
            message = (
                f"the lock entry is out of date: this branch's own migration changed since it "
                f"was locked; {unmerged.where()}, {nobody}"
            )
        else:
            moved = next((p for p, c in unlocked.items() if c == entry.checksum), None)
            change = f"renamed to {moved}" if moved else "deleted"
            path = current.display(moved or relative)
            message = (
                f"the lock lists {relative}, which this branch added and then {change}; "
                f"{unmerged.where()}, so no database has run it"
            )
        findings.append(Finding(NAME, "MG210", path, None, message, fixes.lock_update(location)))
    return findings


def rehash_entry(lock: lockfile.Lock, current: Current, name: str) -> None:
    relative = _relative_name(name, current)
    data = current.data.get(relative)
    if data is None and relative not in lock.entries:
        raise InputError(f"{name}: neither a readable migration file nor an entry of {lock.path}")
    old, new = lockfile.rehash(lock, relative, data, current.engine)
    if old == new:
        print(f"{lock.path}: entry {relative} is already up to date", file=sys.stderr)
        return
    change = f"{old} -> {new}" if new else f"removed (was {old})"
    print(
        f"warning: {lock.path}: entry {relative} rewritten: {change}. Databases that applied "
        "the old text keep it; make real changes in a new migration.",
        file=sys.stderr,
    )


def accept_comment_edits(
    migrations_dir: Path, lock_path: Path, names: Sequence[str], engine: str = "sqlite"
) -> tuple[list[str], list[str]]:
    """Rehash each named file whose edit changed only comments or whitespace; (the entries
    rewritten, one line per file refused because its statements changed). The manual rehash
    hook: a run over every file must accept no real edit of an applied migration."""
    current = read_current(migrations_dir, engine)
    rewritten: list[str] = []
    refused: list[str] = []
    for name in names:
        lock = lockfile.read(lock_path)
        if lock is None:
            raise InputError(f"{lock_path}: lock file not found ({fixes.lock_update()} makes it)")
        relative = _relative_name(name, current)
        entry, data = lock.entries.get(relative), current.data.get(relative)
        if entry is None or data is None or checksum_matches(entry.checksum, data):
            continue  # not locked (--update's work), unreadable (MG209) or current
        text = text_of(data)
        if text is None or not same_statements(entry.code, text, current.engine):
            refused.append(
                f"{current.display(relative)}: statements changed, not only comments or "
                "whitespace; not rehashed. Restore the applied text and make the change in a "
                "new migration"
            )
            continue
        rehash_entry(lock, current, relative)
        rewritten.append(relative)
    return rewritten, refused


def _relative_name(name: str, current: Current) -> str:
    root = current.catalog.root.resolve()
    candidate = Path(name)
    try:
        return candidate.resolve().relative_to(root).as_posix()
    except ValueError:
        return candidate.as_posix()


def update_lock(
    lock: lockfile.Lock,
    current: Current,
    base: tuple[str, list[Applied]] | None,
    recorded: set[str],
    migrations_dir: Path,
) -> None:
    """--update: add the files the lock lacks and refresh (or drop) the out-of-date entries of
    this branch's own unmerged work; never touch an entry of a merged file. A number that two
    files use is refused before anything is written."""
    unmerged = find_unmerged(lock, current, migrations_dir, base=base, recorded=recorded)
    refused = reused_number(lock, current, unmerged.paths)
    if refused:
        raise InputError(refused)
    added = lockfile.update(lock, current.data, refresh=unmerged.paths, engine=current.engine)
    for relative in sorted(unmerged.paths, key=lockfile.sort_key):
        done = "refreshed" if relative in current.data else "dropped"
        print(f"{lock.path}: {done} {relative} ({unmerged.where()})", file=sys.stderr)
    noun = "entry" if len(added) == 1 else "entries"
    print(f"{lock.path}: added {len(added)} {noun}", file=sys.stderr)


def reused_number(lock: lockfile.Lock, current: Current, leaving: set[str]) -> str | None:
    """One line naming two files with one number in one track, when --update would lock one of
    them (a file already locked with its twin is an old duplicate that numbering reports)."""
    by_number: dict[tuple[str, int], list[str]] = {}
    for relative, migration in current.files.items():
        by_number.setdefault((migration.track, migration.version), []).append(relative)
    for (track, _), paths in by_number.items():
        new = [p for p in paths if p not in lock.entries or p in leaving]
        if len(paths) < 2 or not new:
            continue
        ours = new[0]
        other = next(p for p in paths if p != ours)
        number = ours.rpartition("/")[2].split("_", 1)[0]
        return (
            f"{current.display(ours)}: number {number} is already used in the {track} track by "
            f"{other}; give it the next free number (rename it and its rollback), then run "
            "--update again"
        )
    return None


def write_lock(
    migrations_dir: Path, lock_path: Path, base_ref: str | None = None, engine: str = "sqlite"
) -> tuple[bool, list[str]]:
    """`--update` alone, without the check after it (the lock-update hook, which also runs at
    commit: the checksums hook reports the findings, once), for the files git's index holds:
    a migration not yet `git add`ed is not in the commit, and an entry for it would be one for
    a deleted file on every other clone. Returns (whether the lock was written, the migrations
    left out because the index lacks them); InputError when it cannot write."""
    current = read_current(migrations_dir, engine)
    tracked = _in_the_index(current, migrations_dir)
    left_out = [current.display(p) for p in current.files if p not in tracked.files]
    base = (base_ref, from_base_ref(base_ref, migrations_dir)) if base_ref else None
    lock = lockfile.read(lock_path) or lockfile.Lock(lock_path, stored_sum=lockfile.body_sum([]))
    before = _bytes_of(lock_path)
    update_lock(lock, tracked, base, set(), migrations_dir)
    return _bytes_of(lock_path) != before, left_out


def _bytes_of(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _in_the_index(current: Current, migrations_dir: Path) -> Current:
    from ci.core import gitrefs

    tracked = gitrefs.tracked_files(migrations_dir)
    if tracked is None:  # no repository: every file is the project's
        return current
    files = {p: m for p, m in current.files.items() if p in tracked}
    data = {p: d for p, d in current.data.items() if p in tracked}
    return Current(current.catalog, files, data, current.unreadable, current.engine)
