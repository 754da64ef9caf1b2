"""`python -m ci.checksums`: edits to migration files that are already applied.

"Applied" comes from the committed lock file (default `<migrations dir>/../migrations.lock`),
from `--db PATH` (the `schema_version.file_hash` of a real database, opened read-only) and from
`--base-ref REF` (every migration file at REF). Checksums follow the checksum format of
docs/design.md, so a CRLF or BOM
change is not an edit. `--update` adds new files to the lock; `--rehash FILE` rewrites one entry.

A lock entry of this branch's own unmerged work (see `Unmerged`) is not "applied": when it is
out of date the finding is MG210 (refresh it with `--update`), not MG201. "To fix" commands
are spelled for where the check runs (ci/core/fixes.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from ci.app.cli import add_busy_timeout, check_parser, parse, run_check, run_program
from ci.core import fixes, lockfile
from ci.core.findings import Finding, Report
from ci.core.model import (
    Catalog,
    InputError,
    Migration,
    decode_sql,
    discover,
    label_of,
    not_a_database_file,
    track_of,
)
from ci.core.sqltext import checksum, checksum_matches, code_fingerprint

CHECK = "checksums"
WHITESPACE = "only whitespace/comments changed"
STATEMENTS = "statements changed"


class Applied(NamedTuple):
    """One file some source says is applied: where it was, and what it looked like then."""

    source: str  # "the lock file", "database x.db", "base ref origin/main"
    path: str  # relative to the migrations dir ('' when only the version is known)
    recorded: str  # checksum (v1: or another tool's raw sha256)
    label: str  # how to name it when the path is unknown: '0008 (add_x)'
    code: str | None = None  # code fingerprint (full or lock-length prefix) of the applied text
    old_text: str | None = None

    def fingerprint(self) -> str | None:
        """`code`, or the fingerprint of `old_text`: worked out only for an edited file."""
        if self.code is None and self.old_text is not None:
            return code_fingerprint(self.old_text)
        return self.code


class Current:
    """The migration files in the working tree, keyed by path relative to the migrations dir."""

    def __init__(
        self,
        catalog: Catalog,
        files: dict[str, Migration],
        data: dict[str, bytes],
        unreadable: list[Finding],
    ) -> None:
        self.catalog = catalog
        self.files = files
        self.data = data
        self.unreadable = unreadable
        self.checksums = {relative: checksum(content) for relative, content in data.items()}

    def display(self, relative: str) -> str:
        return str(self.catalog.root / relative)


def read_current(migrations_dir: Path) -> Current:
    catalog = discover(migrations_dir, rollbacks=False)  # rollback files are not in the lock
    files = {_relative(catalog.root, m.file.location): m for m in catalog.all_migrations()}
    data: dict[str, bytes] = {}
    unreadable: list[Finding] = []
    for relative, migration in files.items():
        try:
            data[relative] = migration.file.data
        except InputError as error:
            unreadable.append(
                Finding(CHECK, "MG209", str(migration.path), None, _after_path(error), "")
            )
    return Current(catalog, files, data, unreadable)


def _relative(root: Path, path: Path | str) -> str:
    """`path` below `root` as 'schema/0001_x.sql' (string work: Path.relative_to is slow)."""
    prefix, text = str(root), str(path)
    rest = text if prefix == "." else text[len(prefix) :].lstrip(os.sep)
    return rest.replace(os.sep, "/")


def _after_path(error: InputError) -> str:
    return str(error).split(": ", 1)[-1]


# ---- sources of "applied" -------------------------------------------------------------------


def from_lock(lock: lockfile.Lock, *, unmerged: Unmerged | None = None) -> list[Applied]:
    """The lock's entries, except those of this branch's own unmerged work (`unmerged`): those
    are applied nowhere yet, so editing them is fine (their entry is refreshed by --update)."""
    skip = unmerged.paths if unmerged is not None else set()
    return [
        Applied("the lock file", e.path, e.checksum, e.path, code=e.code)
        for e in lock.entries.values()
        if e.path not in skip
    ]


class Unmerged:
    """Lock entries that are out of date but belong to this branch's own unmerged work.

    A file is unmerged when it is not on the merge base of HEAD and the branch this one merges
    into (`--base-ref`, else the remote's default branch, see gitrefs.target_branch; with no
    such branch, when it is not committed yet) and no `--db` records it. No database can have
    run it, so editing it is fine, but its entry must be refreshed (`--update` does that) before
    it is merged: on the target branch a stale entry would make the file look edited to all.
    """

    def __init__(self, paths: set[str], target: str | None) -> None:
        self.paths = paths
        self.target = target  # the branch compared with; None: the last commit

    def where(self) -> str:
        if self.target is None:
            return "it is not committed yet"
        return f"it is not on the merge base with {self.target}"


def stale_entries(lock: lockfile.Lock, current: Current) -> list[str]:
    """Lock entries whose file is gone or whose bytes differ (unreadable files aside)."""
    stale = []
    for relative, entry in lock.entries.items():
        data = current.data.get(relative)
        if relative not in current.files or (
            data is not None
            and entry.checksum != current.checksums[relative]
            and not checksum_matches(entry.checksum, data)
        ):
            stale.append(relative)
    return stale


def find_unmerged(
    lock: lockfile.Lock,
    current: Current,
    migrations_dir: Path,
    *,
    base: tuple[str, list[Applied]] | None,
    recorded: set[str],
) -> Unmerged:
    """The stale entries that are this branch's own work. git is asked only when an entry is
    stale: a clean lock costs no process (the commit hook runs on every commit)."""
    stale = stale_entries(lock, current)
    if not stale:
        return Unmerged(set(), None)
    target: str | None
    if base is not None:
        target, on_base = base[0], {a.path for a in base[1]}
    else:
        from ci.core import gitrefs

        found = gitrefs.merged_paths(migrations_dir)
        if found is None:  # no repository: the lock is all we know, every entry is applied
            return Unmerged(set(), None)
        target, on_base = found
    return Unmerged({p for p in stale if p not in on_base and p not in recorded}, target)


def from_base_ref(ref: str, migrations_dir: Path) -> list[Applied]:
    from ci.core import gitrefs

    base = gitrefs.merge_base(ref, migrations_dir)
    source = f"base ref {ref}"
    if base != gitrefs.resolve_ref(ref, migrations_dir):
        source += f" (merge base {base[:7]})"
    listing = gitrefs.list_files_at_commit(base, migrations_dir)
    wanted = {p: b for p, b in listing.items() if lockfile.sort_key(p)[0] < 2}
    blobs = gitrefs.read_blobs(migrations_dir, wanted.values())
    applied = []
    for relative, blob in sorted(wanted.items(), key=lambda item: lockfile.sort_key(item[0])):
        data = blobs[blob]
        # the code fingerprint comes from old_text when the file turns out edited (rarely)
        applied.append(Applied(source, relative, checksum(data), relative, old_text=_text(data)))
    return applied


def from_database(
    db: Path, current: Current, *, busy_timeout: float = 5.0
) -> tuple[list[Applied], list[Finding]]:
    rows = read_schema_version(db, busy_timeout=busy_timeout)
    if rows is None:
        note = Finding(
            CHECK,
            "MG208",
            str(db),
            None,
            "no schema_version table: nothing is applied to this database yet",
            "",
            severity="warning",
        )
        return [], [note]
    by_version: dict[tuple[str, int], list[str]] = {}
    for relative, m in current.files.items():
        by_version.setdefault((m.track, m.version), []).append(relative)
    applied: list[Applied] = []
    unhashed = 0
    for version, kind, slug, recorded, code in rows:
        if not recorded:
            unhashed += 1
            continue
        track = track_of(kind)
        candidates = by_version.get((track, version), [])
        chosen = next((p for p in candidates if p.endswith(f"_{slug}.sql")), None)
        chosen = chosen or (candidates[0] if candidates else "")
        label = label_of(track, version) + (f" ({slug})" if slug else "")
        applied.append(Applied(f"database {db}", chosen, recorded, label, code=code))
    notes = []
    if unhashed:
        notes.append(
            Finding(
                CHECK,
                "MG208",
                str(db),
                None,
                f"{unhashed} schema_version rows have no file_hash and cannot be checked",
                "run `python -m ci.migrate` once to record hashes",
                severity="warning",
            )
        )
    return applied, notes


Row = tuple[int, str, str, str | None, str | None]


def read_schema_version(db: Path, *, busy_timeout: float = 5.0) -> list[Row] | None:
    """(version, migration_type, description, file_hash, code_hash) rows; None without the table.

    `code_hash` (written by ci.migrate) is the code fingerprint of the applied text.

    The only database access of the static checks: a read-only URI, never a write.
    """
    import sqlite3
    from urllib.parse import quote

    problem = not_a_database_file(db)
    if problem is not None:
        raise InputError(problem)
    if not db.is_file():
        raise InputError(f"{db}: database not found")
    from ci.db import walfiles

    uri = f"file:{quote(str(db.absolute()))}?mode=ro"
    before = walfiles.present(db)
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
        try:
            columns = {row[1] for row in connection.execute("PRAGMA table_info(schema_version)")}
            if not columns:
                return None
            select = ", ".join(
                name if name in columns else fallback
                for name, fallback in (
                    ("version", "NULL"),
                    ("migration_type", "'schema'"),
                    ("description", "''"),
                    ("file_hash", "NULL"),
                    ("code_hash", "NULL"),
                )
            )
            rows = connection.execute(f"SELECT {select} FROM schema_version").fetchall()
        finally:
            connection.close()
            walfiles.tidy(db, before)
    except sqlite3.Error as error:
        if "locked" in str(error):
            from ci.db.runner import explain  # the wording every command uses; only on this error

            raise InputError(explain(error, str(db), busy_timeout)) from None
        raise InputError(f"{db}: cannot read schema_version: {error}") from None
    try:
        return [_checked(row) for row in rows]
    except InputError as error:
        raise InputError(f"{db}: {error}") from None


def _checked(row: tuple[object, ...]) -> Row:
    """One schema_version row, its values checked as the runner checks them (one line each)."""
    from ci.db.bookkeeping import check_value, checked_version

    version, kind, slug, file_hash, code_hash = row
    number = checked_version(version)
    label = f"seed-{number:04d}" if kind == "seed" else f"{number:04d}"
    for column, value in (("file_hash", file_hash), ("code_hash", code_hash)):
        check_value(label, column, value)
    return (number, str(kind or "schema"), str(slug or ""), file_hash, code_hash)  # type: ignore[return-value]


# ---- comparing ------------------------------------------------------------------------------


def compare(
    current: Current, sources: list[list[Applied]], location: Sequence[str] = ()
) -> list[Finding]:
    """Edited, deleted and renamed applied files; one finding per file, naming every source."""
    edits: dict[str, list[Applied]] = {}
    gone: dict[str, list[Applied]] = {}
    renames: dict[tuple[str, str], list[Applied]] = {}
    for applied_list in sources:
        recorded_paths = {a.path for a in applied_list}
        for a in applied_list:
            data = current.data.get(a.path)
            if a.path in current.files and data is None:
                continue  # unreadable: reported once as MG209
            if data is not None:
                if a.recorded != current.checksums[a.path] and not checksum_matches(
                    a.recorded, data
                ):
                    edits.setdefault(a.path, []).append(a)
                continue
            moved = _find_moved(current, a, recorded_paths)
            if moved:
                renames.setdefault((a.path or a.label, moved), []).append(a)
            else:
                gone.setdefault(a.path or a.label, []).append(a)
    findings = [_edited(current, path, applied, location) for path, applied in edits.items()]
    findings += [_renamed(current, old, new, a, location) for (old, new), a in renames.items()]
    findings += [_deleted(current, path, applied) for path, applied in gone.items()]
    return findings


def _find_moved(current: Current, a: Applied, recorded_paths: set[str]) -> str | None:
    for relative, data in current.data.items():
        if relative not in recorded_paths and checksum_matches(a.recorded, data):
            return relative
    return None


def _sources(applied: list[Applied]) -> str:
    return ", ".join(dict.fromkeys(a.source for a in applied))


def _edited(
    current: Current, relative: str, applied: list[Applied], location: Sequence[str]
) -> Finding:
    data = current.data[relative]
    text = _text(data)
    kinds, line = set(), None
    for a in applied:
        code = a.fingerprint()
        if text is None or code is None:
            continue
        same = code_fingerprint(text).startswith(code)
        kinds.add(WHITESPACE if same else STATEMENTS)
        if a.old_text is not None and line is None:
            line = _first_difference(a.old_text, text)
    what = STATEMENTS if STATEMENTS in kinds else WHITESPACE if kinds else "content changed"
    path = current.display(relative)
    new = fixes.new_migration(location)
    hint = (
        f"restore the applied text (e.g. git checkout HEAD -- {path}) and make the change "
        "in a new migration" + (f" ({new})" if new else "")
    )
    if what == WHITESPACE:
        hint += f"; to accept a comment-only edit: {fixes.lock_rehash(path, location)}"
    return Finding(
        CHECK,
        "MG201",
        path,
        line,
        f"applied migration was edited ({what}; applied per {_sources(applied)})",
        hint,
    )


def _renamed(
    current: Current, old: str, new: str, applied: list[Applied], location: Sequence[str]
) -> Finding:
    was = applied[0].path or applied[0].label
    hint = f"rename it back to {was}"
    if not fixes.by_pre_commit():  # the rehash hook cannot name a file that is gone
        hint += (
            "; if it was never applied anywhere, drop the old entry and add the new one: "
            f"{fixes.lock_rehash(was, location)} && {fixes.lock_update(location)}"
        )
    return Finding(
        CHECK,
        "MG203",
        current.display(new),
        None,
        f"applied migration {was} was renamed to {new} (applied per {_sources(applied)}); "
        "databases that applied it would run it again under the new name",
        hint,
    )


def _deleted(current: Current, name: str, applied: list[Applied]) -> Finding:
    path = current.display(name) if applied[0].path else name
    return Finding(
        CHECK,
        "MG202",
        path,
        None,
        f"applied migration {applied[0].label} was deleted (applied per {_sources(applied)})",
        "restore the file from git; undo an applied migration with a new migration instead",
    )


def _first_difference(old: str, new: str) -> int:
    old_lines, new_lines = old.split("\n"), new.split("\n")
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if a != b:
            return number
    return min(len(old_lines), len(new_lines)) + 1


def _text(data: bytes) -> str | None:
    try:
        return decode_sql(data, Path("-"))
    except InputError:
        return None


# ---- the lock file --------------------------------------------------------------------------


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
            CHECK, "MG205", path, lock.conflict_line, "the lock file has git conflict markers", fix
        )
        return  # the other lines are the two sides of the conflict
    if lock.stored_sum is None:
        message = f"the first line is not the lock header '{lockfile.HEADER}<sha256>'"
        yield Finding(CHECK, "MG205", path, 1, message, fix)
    elif not lock.sum_ok:
        message = "the lock file's sum does not match its entries (edited by hand or merged badly)"
        yield Finding(CHECK, "MG205", path, 1, message, fix)
    for number, message in lock.problems:
        if number != 1:
            yield Finding(CHECK, "MG207", path, number, f"bad lock line: {message}", fix)
    for relative in current.files:
        if relative not in lock.entries and current.display(relative) not in renamed:
            yield Finding(
                CHECK,
                "MG204",
                current.display(relative),
                None,
                f"not in the lock file {path}",
                f"run {update} and commit the lock file with the migration",
            )


def unmerged_findings(
    lock: lockfile.Lock, current: Current, unmerged: Unmerged, location: Sequence[str]
) -> list[Finding]:
    """MG210: an out-of-date entry of this branch's own work (edited, renamed or deleted)."""
    findings = []
    unlocked = {p: current.checksums[p] for p in current.data if p not in lock.entries}
    for relative in sorted(unmerged.paths, key=lockfile.sort_key):
        entry = lock.entries[relative]
        if relative in current.files:
            path = current.display(relative)
            message = (
                f"the lock entry is out of date: this branch's own migration changed since it "
                f"was locked; {unmerged.where()}, so no database has run it and editing it is fine"
            )
        else:
            moved = next((p for p, c in unlocked.items() if c == entry.checksum), None)
            change = f"renamed to {moved}" if moved else "deleted"
            path = current.display(moved or relative)
            message = (
                f"the lock lists {relative}, which this branch added and then {change}; "
                f"{unmerged.where()}, so no database has run it"
            )
        findings.append(Finding(CHECK, "MG210", path, None, message, fixes.lock_update(location)))
    return findings


def _rehash(lock: lockfile.Lock, current: Current, name: str) -> None:
    relative = _relative_name(name, current)
    data = current.data.get(relative)
    if data is None and relative not in lock.entries:
        raise InputError(f"{name}: neither a readable migration file nor an entry of {lock.path}")
    old, new = lockfile.rehash(lock, relative, data)
    change = f"{old} -> {new}" if new else f"removed (was {old})"
    print(
        f"warning: {lock.path}: entry {relative} rewritten: {change}. Databases that applied "
        "the old text keep it; make real changes in a new migration.",
        file=sys.stderr,
    )


def accept_comment_edits(
    migrations_dir: Path, lock_path: Path, names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Rehash each named file whose edit changed only comments or whitespace; (the entries
    rewritten, one line per file refused because its statements changed). The manual rehash
    hook: a run over every file must accept no real edit of an applied migration."""
    current = read_current(migrations_dir)
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
        text = _text(data)
        if entry.code is None or text is None or not code_fingerprint(text).startswith(entry.code):
            refused.append(
                f"{current.display(relative)}: statements changed, not only comments or "
                "whitespace; not rehashed. Restore the applied text and make the change in a "
                "new migration"
            )
            continue
        _rehash(lock, current, relative)
        rewritten.append(relative)
    return rewritten, refused


def _relative_name(name: str, current: Current) -> str:
    root = current.catalog.root.resolve()
    candidate = Path(name)
    try:
        return candidate.resolve().relative_to(root).as_posix()
    except ValueError:
        return candidate.as_posix()


# ---- the check ------------------------------------------------------------------------------


def check(
    migrations_dir: Path,
    *,
    lock_path: Path | None = None,
    db: Path | None = None,
    base_ref: str | None = None,
    update: bool = False,
    rehash: str | None = None,
    busy_timeout: float = 5.0,
    location: Sequence[str] = (),
) -> Report:
    """Compare the files with every source of "applied". `rehash` and `update` write the lock
    first; `rehash` alone is one step of a fix (e.g. drop an entry, then --update) and reports
    only what it wrote, so `--rehash F && --update` chains."""
    current = read_current(migrations_dir)
    path = lock_path or lockfile.default_path(migrations_dir)
    lock = lockfile.read(path)
    if lock is None and lock_path is not None and not (update or rehash):
        raise InputError(f"{lock_path}: lock file not found (create it with --update)")
    if rehash:
        _rehash(lock or lockfile.Lock(path, stored_sum=lockfile.body_sum([])), current, rehash)
        if not update:
            return Report.from_findings(CHECK, [], passed=f"{path}: entry of {rehash} rewritten")
        lock = lockfile.read(path)
    base = (base_ref, from_base_ref(base_ref, migrations_dir)) if base_ref else None
    findings = list(current.unreadable)
    recorded: list[Applied] = []
    if db is not None:
        recorded, notes = from_database(db, current, busy_timeout=busy_timeout)
        findings += notes
    recorded_paths = {a.path for a in recorded}
    if update:
        _update(
            lock or lockfile.Lock(path, stored_sum=lockfile.body_sum([])),
            current,
            base,
            recorded_paths,
            migrations_dir,
        )
        lock = lockfile.read(path)
    sources: list[list[Applied]] = []
    unmerged = Unmerged(set(), None)
    if lock is not None:
        unmerged = find_unmerged(lock, current, migrations_dir, base=base, recorded=recorded_paths)
        sources.append(from_lock(lock, unmerged=unmerged))
    elif db is None and base_ref is None:
        findings.append(
            Finding(
                CHECK,
                "MG206",
                str(path),
                None,
                "no lock file, so nothing says which migrations are applied",
                f"create it with {fixes.lock_update(location)} and commit it",
            )
        )
    if base is not None:
        sources.append(base[1])
    if db is not None:
        sources.append(recorded)
    changes = compare(current, sources, location)
    if lock is not None:
        stale = unmerged_findings(lock, current, unmerged, location)
        renamed = {f.path for f in [*changes, *stale] if f.code in ("MG203", "MG210") and f.path}
        findings += lock_findings(lock, current, renamed=renamed, location=location)
        findings += stale
    findings += changes
    return Report.from_findings(
        CHECK, findings, passed=f"{len(current.files)} migration files match their checksums"
    )


def _update(
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
    added = lockfile.update(lock, current.data, refresh=unmerged.paths)
    for relative in sorted(unmerged.paths, key=lockfile.sort_key):
        done = "refreshed" if relative in current.data else "dropped"
        print(f"{lock.path}: {done} {relative} ({unmerged.where()})", file=sys.stderr)
    print(f"{lock.path}: added {len(added)} entries", file=sys.stderr)


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


def build_parser() -> argparse.ArgumentParser:
    parser = check_parser(CHECK, "Edits to migration files that are already applied.")
    parser.add_argument(
        "--lock",
        type=Path,
        default=None,
        help="lock file (default: migrations.lock next to the migrations directory)",
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="also check against this database (read-only)"
    )
    add_busy_timeout(
        parser,
        default=5.0,
        help="with --db: wait this long for another process's lock (default: 5)",
    )
    parser.add_argument(
        "--base-ref",
        metavar="REF",
        default=None,
        help="git ref whose migration files must be unchanged (e.g. origin/main)",
    )
    parser.add_argument(
        "--update", action="store_true", help="add new migration files to the lock file"
    )
    parser.add_argument(
        "--rehash",
        metavar="FILE",
        default=None,
        help="rewrite the lock entry of FILE (or drop it if FILE is gone), loudly",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    if args.files:  # the lock file counts as a migration file here
        lock = (args.lock or lockfile.default_path(args.migrations_dir)).resolve()
        if any(Path(f).resolve() == lock for f in args.files):
            args.files = []
    return run_check(
        CHECK,
        args,
        lambda a: check(
            a.migrations_dir,
            lock_path=a.lock,
            db=a.db,
            base_ref=a.base_ref,
            update=a.update,
            rehash=a.rehash,
            busy_timeout=a.busy_timeout,
            location=fixes.where(migrations_dir=a.migrations_dir, lock=a.lock, config=a.config),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(run_program(main))
