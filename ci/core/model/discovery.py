"""Listing a migrations directory into a Catalog, and pairing each migration with its rollback.

An entry that cannot be a migration file is a CatalogProblem: MG103 (a malformed name, or a
directory where a file belongs), MG104 (an unknown folder), MG105 (a symlink that loops or leaves
the repository).
"""

from __future__ import annotations

import os
from pathlib import Path

from ci.core.model.catalog import Catalog, CatalogProblem, Migration
from ci.core.model.layout import (
    KNOWN_FOLDERS,
    LOOSE_NAME,
    ROLLBACK_FOLDER,
    SEED_FOLDER,
    VERSION_RANGE,
    missing_migrations_dir,
    parse_name,
    version_in_range,
)
from ci.core.model.sqlfile import SqlFile


def discover(root: Path, *, rollbacks: bool = True) -> Catalog:
    """Walk a migrations directory (subfolder or flat layout) into a Catalog.

    `rollbacks=False` skips the rollback folder, for a check that never looks at rollback
    files (ci.checksums): half the entries of a typical directory (a performance budget)."""
    if not root.is_dir():
        raise missing_migrations_dir(root)
    catalog = Catalog(root=root)
    # Files are placed by their path as text, `prefix + name`: pathlib makes a Path only for a
    # file someone asks about (1,000 migrations, whole process budgeted). The prefix is
    # pathlib's own spelling of `root / name` without the name ('' for '.', 'dir/' otherwise).
    prefix = str(root / "_")[:-1]
    for entry in _scan(root):
        if entry.name.startswith("."):
            continue  # .gitkeep and editor files are not migrations
        if entry.is_dir(follow_symlinks=False) and entry.name in KNOWN_FOLDERS:
            if entry.name == ROLLBACK_FOLDER and not rollbacks:
                continue
            folder = prefix + entry.name + os.sep
            for child in _scan(root / entry.name):
                if not child.name.startswith("."):
                    _place(catalog, folder + child.name, entry.name, child)
        else:
            _place(catalog, prefix + entry.name, None, entry)
    catalog.main.sort(key=lambda m: (m.version, m.kind, m.file.name))
    catalog.seeds.sort(key=lambda m: (m.version, m.file.name))
    _pair_rollbacks(catalog)
    return catalog


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    """A directory's entries by name. os.scandir, not Path.iterdir + is_dir/is_symlink: the
    type comes with the listing, so 1,000 migrations cost no stat calls (a performance budget)."""
    with os.scandir(directory) as entries:
        return sorted(entries, key=lambda e: e.name)


def _place(catalog: Catalog, location: str, folder: str | None, info: os.DirEntry[str]) -> None:
    parsed = parse_name(info.name)
    if parsed is None or not info.is_file(follow_symlinks=False):
        if info.is_symlink():
            catalog.symlinks.add(location)
        entry = Path(location)
        problem = _entry_problem(catalog.root, entry, folder, info)
        if problem:
            code, message, hint = problem
            catalog.problems.append(CatalogProblem(code, location, None, message, hint))
            return
    assert parsed is not None  # _entry_problem rejects names that do not parse
    version, slug = parsed
    if folder == ROLLBACK_FOLDER:
        catalog.rollbacks.setdefault(version, []).append(SqlFile(location))
        return
    kind = folder or "schema"
    migration = Migration(SqlFile(location), kind, version, slug)
    (catalog.seeds if kind == SEED_FOLDER else catalog.main).append(migration)


def _entry_problem(
    root: Path, entry: Path, folder: str | None, info: os.DirEntry[str] | None = None
) -> tuple[str, str, str] | None:
    """Why an entry cannot be a migration file: (code, message, hint), or None if it can."""
    is_symlink = info.is_symlink() if info is not None else entry.is_symlink()
    try:
        escapes = is_symlink and not _inside(entry.resolve(), root.resolve().parent)
        is_dir = info.is_dir() if info is not None else entry.is_dir()
    except (OSError, RuntimeError):  # pathlib and os.DirEntry report a symlink loop differently
        return ("MG105", "symlink loop: the link leads back to itself", "replace it with the file")
    if escapes:
        return ("MG105", "symlink leaves the repository", "replace the link with the file")
    if is_dir:
        if folder is None:
            known = ", ".join(KNOWN_FOLDERS)
            return ("MG104", f"unknown folder '{entry.name}'", f"use one of: {known}")
        return ("MG103", "a directory, not a migration file", "remove or rename the directory")
    if parse_name(entry.name) is None:
        return (
            "MG103",
            f"malformed migration name: {_why_malformed(entry.name)}",
            "name it NNNN_slug.sql: 4+ digits, lower-case slug of [a-z0-9_], .sql",
        )
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _why_malformed(name: str) -> str:
    if not name.endswith(".sql"):
        return f"'{name}' does not end in .sql"
    if " " in name:
        return f"'{name}' contains spaces"
    match = LOOSE_NAME.match(name[: -len(".sql")])
    if match is None:
        return f"'{name}' does not start with a number"
    if match["number"].startswith("-"):
        return f"'{name}' has a negative number"
    if len(match["number"]) < 4:
        return f"'{name}' number is narrower than 4 digits (zero pad it)"
    if not version_in_range(int(match["number"])):
        return f"'{name}' number must be between {VERSION_RANGE}"
    if match["rest"] != match["rest"].lower():
        return f"'{name}' slug has upper-case letters"
    return f"'{name}' slug must be [a-z0-9_] after NNNN_"


def _pair_rollbacks(catalog: Catalog) -> None:
    """Give each main-track migration its rollback file. Of two migrations sharing a number
    (a numbering error), the one the rollback names (`rollback/0003_<slug>.sql`) gets it, else
    the first in order."""
    if not catalog.rollbacks:
        return  # --status lists no rollback folder: no index of the main track to build
    by_version: dict[int, list[Migration]] = {}
    for m in catalog.main:
        by_version.setdefault(m.version, []).append(m)
    for version, files in catalog.rollbacks.items():
        candidates = by_version.get(version)
        if not candidates:
            continue
        slug = files[0].name[:-4].partition("_")[2]
        migration = next((m for m in candidates if m.slug == slug), candidates[0])
        migration.rollback = files[0]  # discover made it: no one else holds it yet
