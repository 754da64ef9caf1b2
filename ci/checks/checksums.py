"""`python -m ci.checksums`: edits to migration files that are already applied.

"Applied" comes from the committed lock file (default `<migrations dir>/../migrations.lock`),
from `--db PATH` or `--database-url URL` (the `schema_version.file_hash` of a real SQLite or
PostgreSQL database, opened read-only) and from
`--base-ref REF` (every migration file at REF). Checksums follow the checksum format of
docs/design.md, so a CRLF or BOM
change is not an edit. `--update` adds new files to the lock; `--rehash FILE` rewrites one entry.

A lock entry of this branch's own unmerged work (see `Unmerged`) is not "applied": when it is
out of date the finding is MG210 (refresh it with `--update`), not MG201. "To fix" commands
are spelled for where the check runs (ci/core/fixes.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ci.checks import options
from ci.checks.base import Check
from ci.checks.checksums_applied import (
    NAME,
    Applied,
    Current,
    Unmerged,
    find_unmerged,
    from_base_ref,
    from_database,
    from_lock,
    read_current,
    text_of,
)
from ci.checks.checksums_lock import lock_findings, rehash_entry, unmerged_findings, update_lock
from ci.checks.options import Option
from ci.core import fixes, lockfile
from ci.core.findings import Finding, Report
from ci.core.model import InputError
from ci.core.sqltext import checksum_matches, code_fingerprint

WHITESPACE = "only whitespace/comments changed"
STATEMENTS = "statements changed"


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


def _less_rehashed(
    applied: list[Applied], lock: lockfile.Lock | None, current: Current
) -> list[Applied]:
    """The base ref's files, less those whose comment-only edit the lock accepts: the lock
    entry was rehashed to the current text (`--rehash`, the rehash hook) and the statements
    are still the base ref's. The lock comparison accepts such an edit; the base ref must too,
    or the edit passes the commit hook and fails every push. A statement change stays MG201."""
    if lock is None:
        return applied
    kept = []
    for a in applied:
        entry, data = lock.entries.get(a.path), current.data.get(a.path)
        if (
            entry is not None
            and data is not None
            and a.recorded != current.checksums[a.path]
            and checksum_matches(entry.checksum, data)
            and _same_statements(a, data, current.engine)
        ):
            continue
        kept.append(a)
    return kept


def _same_statements(a: Applied, data: bytes, engine: str) -> bool:
    text, code = text_of(data), a.fingerprint(engine)
    return text is not None and code is not None and code_fingerprint(text, engine) == code


def _find_moved(current: Current, a: Applied, recorded_paths: set[str]) -> str | None:
    for relative, data in current.data.items():
        if relative not in recorded_paths and checksum_matches(a.recorded, data):
            return relative
    return None


def _accept_commands(applied: list[Applied], path: str, location: Sequence[str]) -> str:
    """The lock's rehash for the lock; `ci.migrate --rehash` for a database, whose stored
    checksum only the runner rewrites (a lock rehash leaves it as it was)."""
    commands = []
    for source in dict.fromkeys(a.source for a in applied):
        target = source.removeprefix("database ")
        if target == source:
            commands.append(fixes.lock_rehash(path, location))
        else:
            flag = "--database-url" if "://" in target else "--db"
            commands.append(fixes.command("migrate", flag, target, "--rehash", location=location))
    return " and ".join(dict.fromkeys(commands))


def _sources(applied: list[Applied]) -> str:
    return ", ".join(dict.fromkeys(a.source for a in applied))


def _edited(
    current: Current, relative: str, applied: list[Applied], location: Sequence[str]
) -> Finding:
    data = current.data[relative]
    text = text_of(data)
    kinds, line = set(), None
    for a in applied:
        code = a.fingerprint(current.engine)
        if text is None or code is None:
            continue
        same = code_fingerprint(text, current.engine).startswith(code)
        kinds.add(WHITESPACE if same else STATEMENTS)
        if a.old_text is not None and line is None:
            line = _first_difference(a.old_text, text)
    what = STATEMENTS if STATEMENTS in kinds else WHITESPACE if kinds else "content changed"
    path = current.display(relative)
    new = fixes.new_migration(location)
    restore = _restore_from(current, relative, applied)
    hint = (
        "restore the applied text"
        + (f" (e.g. git checkout {restore} -- {path})" if restore else "")
        + " and make the change in a new migration"
        + (f" ({new})" if new else "")
    )
    if what == WHITESPACE:
        hint += f"; to accept a comment-only edit: {_accept_commands(applied, path, location)}"
    return Finding(
        NAME,
        "MG201",
        path,
        line,
        f"applied migration was edited ({what}; applied per {_sources(applied)})",
        hint,
    )


def _restore_from(current: Current, relative: str, applied: list[Applied]) -> str | None:
    """The git ref that holds the applied text: the base ref when it is a source (HEAD may
    already hold the edit there), else HEAD when HEAD has the file and not the edited bytes;
    None when git has no applied copy to restore (a file never committed, no repository)."""
    ref = next((a.ref for a in applied if a.ref), None)
    if ref is not None:
        return ref
    from ci.core import gitrefs  # only when a file was edited: never on a clean run

    try:
        at_head = gitrefs.list_files("HEAD", current.catalog.root).get(relative)
    except gitrefs.RefError:
        return None
    if at_head is None or at_head == gitrefs.blob_id(current.data[relative]):
        return None
    return "HEAD"


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
        NAME,
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
        NAME,
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


# ---- the check ------------------------------------------------------------------------------


def check(
    migrations_dir: Path,
    *,
    lock_path: Path | None = None,
    db: Path | str | None = None,
    base_ref: str | None = None,
    update: bool = False,
    rehash: str | None = None,
    busy_timeout: float = 5.0,
    location: Sequence[str] = (),
    engine: str = "sqlite",
) -> Report:
    """Compare the files with every source of "applied". `rehash` and `update` write the lock
    first; `rehash` alone is one step of a fix (e.g. drop an entry, then --update) and reports
    only what it wrote, so `--rehash F && --update` chains."""
    current = read_current(migrations_dir, engine)
    path = lock_path or lockfile.default_path(migrations_dir)
    lock = lockfile.read(path)
    if lock is None and lock_path is not None and not (update or rehash):
        raise InputError(f"{lock_path}: lock file not found (create it with --update)")
    if rehash:
        rehash_entry(lock or lockfile.Lock(path, stored_sum=lockfile.body_sum([])), current, rehash)
        if not update:
            return Report.from_findings(NAME, [], passed=f"{path}: entry of {rehash} rewritten")
        lock = lockfile.read(path)
    base = (base_ref, from_base_ref(base_ref, migrations_dir)) if base_ref else None
    findings = list(current.unreadable)
    recorded: list[Applied] = []
    if db is not None:
        recorded, notes = from_database(db, current, busy_timeout=busy_timeout)
        findings += notes
    # a database that ran the current text says nothing about the lock: a stale entry of this
    # branch's own migration stays MG210 (--update), as without --db
    recorded_paths = {a.path for a in recorded if not _runs_current(a, current)}
    if update:
        update_lock(
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
                NAME,
                "MG206",
                str(path),
                None,
                "no lock file, so nothing says which migrations are applied",
                f"create it with {fixes.lock_update(location)} and commit it",
            )
        )
    if base is not None:
        sources.append(_less_rehashed(base[1], lock, current))
    if db is not None:
        sources.append(recorded)
    changes = compare(current, sources, location)
    if lock is not None:
        ran = {a.path: a.source for a in recorded if a.path not in recorded_paths}
        stale = unmerged_findings(lock, current, unmerged, location, ran=ran)
        renamed = {f.path for f in [*changes, *stale] if f.code in ("MG203", "MG210") and f.path}
        findings += lock_findings(lock, current, renamed=renamed, location=location)
        findings += stale
    findings += changes
    return Report.from_findings(
        NAME, findings, passed=f"{len(current.files)} migration files match their checksums"
    )


def _runs_current(a: Applied, current: Current) -> bool:
    data = current.data.get(a.path)
    return data is not None and (
        a.recorded == current.checksums[a.path] or checksum_matches(a.recorded, data)
    )


def _lock_is_a_migration(args: argparse.Namespace) -> None:
    """The lock file counts as a migration file here: FILES naming it means the whole check."""
    if args.files:
        lock = (args.lock or lockfile.default_path(args.migrations_dir)).resolve()
        if any(Path(f).resolve() == lock for f in args.files):
            args.files = []


def _database(a: argparse.Namespace) -> Path | str | None:
    """--db (a SQLite file) or --database-url (a PostgreSQL URL), never both."""
    if a.db is not None and a.database_url is not None:
        raise InputError("--db and --database-url do not go together (one database per run)")
    if a.db is not None and str(a.db).partition(":/")[0].lower() in options.POSTGRES_SCHEMES:
        raise InputError("--db takes a SQLite file; give a PostgreSQL database as --database-url")
    database: Path | str | None = a.database_url or a.db
    return database


def engine_of(a: argparse.Namespace) -> str:
    """Whose scanner tells comment edits from statement edits: the project's engine
    (migration-guard.yaml), else PostgreSQL for --database-url, else SQLite."""
    named = getattr(a, "project_engine", None)
    if named in ("sqlite", "postgresql"):
        return str(named)
    return "postgresql" if a.database_url is not None else "sqlite"


def _run(a: argparse.Namespace) -> Report:
    return check(
        a.migrations_dir,
        lock_path=a.lock,
        db=_database(a),
        base_ref=a.base_ref,
        update=a.update,
        rehash=a.rehash,
        busy_timeout=a.busy_timeout,
        location=fixes.where(
            migrations_dir=a.migrations_dir,
            lock=a.lock,
            config=a.config,
            from_config=getattr(a, "set_in_config", {}),
        ),
        engine=engine_of(a),
    )


CHECK = Check(
    NAME,
    "Edits to migration files that are already applied.",
    (
        Option(
            "--lock",
            type=Path,
            default=None,
            help="lock file (default: migrations.lock next to the migrations directory)",
        ),
        Option(
            "--db", type=Path, default=None, help="also check against this database (read-only)"
        ),
        Option(
            "--database-url",
            type=options.postgres_url,
            default=None,
            metavar="URL",
            help="or against this PostgreSQL database (read-only): postgresql://USER@HOST:PORT/DB",
        ),
        options.busy_timeout(
            default=5.0, help="with --db: wait this long for another process's lock (default: 5)"
        ),
        options.base_ref("git ref whose migration files must be unchanged (e.g. origin/main)"),
        Option("--update", action="store_true", help="add new migration files to the lock file"),
        Option(
            "--rehash",
            metavar="FILE",
            default=None,
            help="rewrite the lock entry of FILE (or drop it if FILE is gone), loudly",
        ),
    ),
    _run,
    narrow=_lock_is_a_migration,
)
