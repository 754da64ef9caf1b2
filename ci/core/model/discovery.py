"""Listing a migrations directory into a Catalog, and pairing each migration with its rollback.

An entry that cannot be a migration file is a CatalogProblem: MG103 (a malformed name, or a
directory where a file belongs), MG104 (an unknown folder), MG105 (a symlink that loops or leaves
the repository).
"""

from __future__ import annotations

import os
from operator import attrgetter
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
from ci.core.model.sqlfile import Splitter, SqlFile
from ci.core.sqltext import LazyPattern

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Literal

    Rollbacks = bool | Literal["checked"]

CHECKED: Literal["checked"] = "checked"  # discover(rollbacks=CHECKED): see there

# Every name of a folder, each followed by "/" (no file name holds one), in one match: each is
# hidden, or one parse_name accepts (4+ digits whose value is 1..999,999,999, the slug, .sql)
_ALL_NAMES_PARSE = LazyPattern(r"(?:\.[^/]*/|(?=\d{4})0*[1-9]\d{0,8}_[a-z0-9_]+\.sql/)*")


def discover(
    root: Path, *, rollbacks: Rollbacks = True, splitter: Splitter | None = None
) -> Catalog:
    """Walk a migrations directory (subfolder or flat layout) into a Catalog.

    `rollbacks=False` skips the rollback folder, for a check that never looks at rollback
    files (ci.checksums): half the entries of a typical directory (a performance budget).
    `rollbacks=CHECKED` lists it and records the same problems as `True`, but when every entry
    is a well-named regular file (one regular expression over all the names) it makes no
    SqlFile and pairs none: no migration has its `rollback` then. For a run that applies
    (ci.migrate), which refuses a bad entry there but never reads a rollback file.
    `splitter`: how every file's statements are split (None: SQLite's rules; a PostgreSQL
    project's checks pass PostgreSQL's)."""
    if not root.is_dir():
        raise missing_migrations_dir(root)
    catalog = Catalog(root=root)
    # Files are placed by their path as text, `prefix + name`: pathlib makes a Path only for a
    # file someone asks about (1,000 migrations, whole process budgeted). The prefix is
    # pathlib's own spelling of `root / name` without the name ('' for '.', 'dir/' otherwise).
    prefix = str(root / "_")[:-1]
    placed = _Placed(catalog, splitter)
    for entry in _scan(root):
        if entry.name.startswith("."):
            continue  # .gitkeep and editor files are not migrations
        if entry.is_dir(follow_symlinks=False) and entry.name in KNOWN_FOLDERS:
            if entry.name == ROLLBACK_FOLDER and not rollbacks:
                continue
            folder = prefix + entry.name + os.sep
            checked = entry.name == ROLLBACK_FOLDER and rollbacks == CHECKED
            if checked and _all_fine(root / entry.name):
                continue
            for child in _scan(root / entry.name):
                if not child.name.startswith("."):
                    placed.add(folder + child.name, entry.name, child)
        else:
            placed.add(prefix + entry.name, None, entry)
    placed.sort()
    _pair_rollbacks(catalog)
    return catalog


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    """A directory's entries by name. os.scandir, not Path.iterdir + is_dir/is_symlink: the
    type comes with the listing, so 1,000 migrations cost no stat calls (a performance budget)."""
    with os.scandir(directory) as entries:
        return sorted(entries, key=_BY_NAME)


_BY_NAME = attrgetter("name")  # C-level key: a lambda is a Python call per entry


def _all_fine(folder: Path) -> bool:
    """Whether discover would place every entry of `folder` without a problem: each a regular
    file, not a link (a hidden directory is then one too many: the slow way decides), whose
    name is hidden or parses. ~4k instructions an entry instead of ~17k: C-level passes over
    the listing (is_file(follow_symlinks=False) parses its keyword every call), unsorted."""
    with os.scandir(folder) as listing:
        entries = list(listing)
    if any(map(os.DirEntry.is_symlink, entries)) or not all(map(os.DirEntry.is_file, entries)):
        return False
    names = "".join([entry.name + "/" for entry in entries])
    return _ALL_NAMES_PARSE.compiled.fullmatch(names) is not None


class _Placed:
    """The migrations as discover places them, each with its sort key (number, kind, file
    name) made once from what the listing gave: sorting by a key function would call it, and
    the file name property, for every migration again."""

    __slots__ = ("catalog", "main", "seeds", "splitter")

    def __init__(self, catalog: Catalog, splitter: Splitter | None) -> None:
        self.catalog = catalog
        self.splitter = splitter
        self.main: list[tuple[int, str, str, int, Migration]] = []
        self.seeds: list[tuple[int, str, str, int, Migration]] = []

    def add(self, location: str, folder: str | None, info: os.DirEntry[str]) -> None:
        name = info.name
        parsed = parse_name(name)
        if parsed is None or not info.is_file(follow_symlinks=False):
            if not _placeable(self.catalog, location, folder, info):
                return
            assert parsed is not None  # _entry_problem rejects names that do not parse
        version, slug = parsed
        file = SqlFile(location, self.splitter)
        if folder == ROLLBACK_FOLDER:
            self.catalog.rollbacks.setdefault(version, []).append(file)
            return
        kind = folder or "schema"
        track = self.seeds if kind == SEED_FOLDER else self.main
        # the index breaks ties before a Migration is compared (a flat and a folder file of one
        # name and number): the order of equal keys stays the listing's, as a stable sort's
        track.append((version, kind, name, len(track), Migration(file, kind, version, slug)))

    def sort(self) -> None:
        self.main.sort()
        self.seeds.sort()
        self.catalog.main = [placed[-1] for placed in self.main]
        self.catalog.seeds = [placed[-1] for placed in self.seeds]


def _placeable(catalog: Catalog, location: str, folder: str | None, info: os.DirEntry[str]) -> bool:
    """An entry whose name does not parse or that is not a regular file: a problem recorded
    (False), or a file after all (a symlink to one inside the repository)."""
    if info.is_symlink():
        catalog.symlinks.add(location)
    problem = _entry_problem(catalog.root, Path(location), folder, info)
    if problem:
        code, message, hint = problem
        catalog.problems.append(CatalogProblem(code, location, None, message, hint))
        return False
    return True


def symlink_problem(root: Path, entry: Path) -> tuple[str, str, str] | None:
    """Why `entry`, a file of the migrations directory `root`, cannot be read as a migration
    because it is a symlink that loops or leaves the repository (MG105: code, message, hint);
    None if it is no such link. Lint asks this too, so that it refuses what the runner refuses."""
    problem = _entry_problem(root, entry, "schema")
    return problem if problem is not None and problem[0] == "MG105" else None


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
        migration = candidates[0]
        if len(candidates) > 1:  # only then does the rollback's name decide
            slug = files[0].name[:-4].partition("_")[2]
            migration = next((m for m in candidates if m.slug == slug), migration)
        migration.rollback = files[0]  # discover made it: no one else holds it yet
