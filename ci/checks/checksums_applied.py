"""Where the checksums check learns what is "applied": the lock file, a base ref, a database.

Each source gives `Applied` entries (a path, its checksum and, where known, its statements'
fingerprint); `Current` is what the migrations directory holds now. A lock entry of this branch's
own unmerged work (`Unmerged`) is not "applied".
"""

from __future__ import annotations

import os
from pathlib import Path

from ci.core import lockfile
from ci.core.findings import Finding, Record
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

NAME = "checksums"


class Applied(Record):
    """One file some source says is applied: where it was, and what it looked like then. A
    plain record, not a NamedTuple (`typing` costs ~4% of ci.checksums' start-up); immutable."""

    FIELDS = ("source", "path", "recorded", "label", "code", "old_text", "ref")
    __slots__ = FIELDS

    def __init__(
        self,
        source: str,  # "the lock file", "database x.db", "base ref origin/main"
        path: str,  # relative to the migrations dir ('' when only the version is known)
        recorded: str,  # checksum (v1: or another tool's raw sha256)
        label: str,  # how to name it when the path is unknown: '0008 (add_x)'
        code: str | None = None,  # code fingerprint (full or lock-length prefix), applied text
        old_text: str | None = None,
        ref: str | None = None,  # the git ref the applied text can be restored from (base ref)
    ) -> None:
        self.source = source
        self.path = path
        self.recorded = recorded
        self.label = label
        self.code = code
        self.old_text = old_text
        self.ref = ref

    def fingerprint(self, engine: str = "sqlite") -> str | None:
        """`code`, or the fingerprint of `old_text`: worked out only for an edited file."""
        if self.code is None and self.old_text is not None:
            return code_fingerprint(self.old_text, engine)
        return self.code


class Current:
    """The migration files in the working tree, keyed by path relative to the migrations dir."""

    def __init__(
        self,
        catalog: Catalog,
        files: dict[str, Migration],
        data: dict[str, bytes],
        unreadable: list[Finding],
        engine: str = "sqlite",
    ) -> None:
        self.catalog = catalog
        self.files = files
        self.data = data
        self.unreadable = unreadable
        self.engine = engine  # whose tokens tell a comment edit from a statement edit
        self.checksums = {relative: checksum(content) for relative, content in data.items()}

    def display(self, relative: str) -> str:
        return str(self.catalog.root / relative)


def read_current(migrations_dir: Path, engine: str = "sqlite") -> Current:
    catalog = discover(migrations_dir, rollbacks=False)  # rollback files are not in the lock
    files = {_relative(catalog.root, m.file.location): m for m in catalog.all_migrations()}
    data: dict[str, bytes] = {}
    unreadable: list[Finding] = []
    for relative, migration in files.items():
        try:
            data[relative] = migration.file.data
        except InputError as error:
            unreadable.append(
                Finding(NAME, "MG209", str(migration.path), None, _after_path(error), "")
            )
    return Current(catalog, files, data, unreadable, engine)


def _relative(root: Path, path: Path | str) -> str:
    """`path` below `root` as 'schema/0001_x.sql' (string work: Path.relative_to is slow)."""
    prefix, text = str(root), str(path)
    rest = text if prefix == "." else text[len(prefix) :].lstrip(os.sep)
    return rest.replace(os.sep, "/")


def _after_path(error: InputError) -> str:
    return str(error).split(": ", 1)[-1]


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
        old_text = text_of(data)
        applied.append(
            Applied(source, relative, checksum(data), relative, old_text=old_text, ref=ref)
        )
    return applied


def from_database(
    db: Path | str, current: Current, *, busy_timeout: float = 5.0
) -> tuple[list[Applied], list[Finding]]:
    """What a database's schema_version says is applied: a SQLite file (a Path) or a
    PostgreSQL database (a postgresql:// URL, named without its password)."""
    if isinstance(db, str):
        from ci.checks.database_postgres import label as shown
        from ci.checks.database_postgres import schema_version_rows

        found = schema_version_rows(db)
        rows = None if found is None else [_checked(row) for row in found]
        db = shown(db)
    else:
        rows = read_schema_version(db, busy_timeout=busy_timeout)
    if rows is None:
        note = Finding(
            NAME,
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
                NAME,
                "MG208",
                str(db),
                None,
                f"{unhashed} schema_version rows have no file_hash and cannot be checked",
                "run `python -m ci.migrate` once to record hashes",
                severity="warning",
            )
        )
    return applied, notes


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


Row = tuple[int, str, str, str | None, str | None]


def text_of(data: bytes) -> str | None:
    try:
        return decode_sql(data, Path("-"))
    except InputError:
        return None
