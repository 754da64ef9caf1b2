"""The migrations directory as data: files, names, tracks, rollbacks, directives (SPEC 2, 3.1).

No SQLite connection is opened here. Reading a file that is not valid input raises `InputError`
with one line naming the file (and the line), which the checks turn into a finding.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ci.findings import Finding
from ci.sqltext import Statement, checksum, split_statements

MAIN_FOLDERS = ("schema", "data")
SEED_FOLDER = "seed"
ROLLBACK_FOLDER = "rollback"
KNOWN_FOLDERS = (*MAIN_FOLDERS, SEED_FOLDER, ROLLBACK_FOLDER)
DEFAULT_MIGRATIONS_DIR = "schema/migrations"

NAME = re.compile(r"^(?P<number>\d{4,})_(?P<slug>[a-z0-9_]+)\.sql$")
LOOSE_NAME = re.compile(r"^(?P<number>-?\d+)[_-]?(?P<rest>.*)$")
DIRECTIVE = re.compile(r"^--\s*@(?P<word>[A-Za-z][\w-]*)\s*(?P<args>.*?)\s*$")
KNOWN_DIRECTIVES = ("irreversible", "no-transaction", "batch", "progress", "allow-row-loss")


class InputError(Exception):
    """A user's file or argument that cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class Directives:
    irreversible: str | None = None
    no_transaction: bool = False
    batch: int | None = None
    progress: str | None = None
    allow_row_loss: frozenset[str] = frozenset()

    def allows_row_loss(self, table: str) -> bool:
        return "*" in self.allow_row_loss or table.lower() in self.allow_row_loss


@dataclass(frozen=True)
class SqlFile:
    """A readable SQL file: its bytes, text and statements, parsed once."""

    path: Path

    @cached_property
    def data(self) -> bytes:
        try:
            return _read_regular_file(self.path)
        except IsADirectoryError:
            raise InputError(f"{self.path}: is a directory, not a SQL file") from None
        except OSError as error:
            raise InputError(f"{self.path}: cannot read: {error.strerror}") from None

    @cached_property
    def text(self) -> str:
        return decode_sql(self.data, self.path)

    @cached_property
    def statements(self) -> list[Statement]:
        return split_statements(self.text)

    @cached_property
    def checksum(self) -> str:
        return checksum(self.data)

    @cached_property
    def directives(self) -> Directives:
        return parse_directives(self.text, self.path)


@dataclass(frozen=True)
class Migration:
    """A numbered migration file (main or seed track) and its rollback file, if any."""

    file: SqlFile
    kind: str  # "schema", "data" or "seed" (flat files in the root count as "schema")
    version: int
    slug: str
    rollback: SqlFile | None = None

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def track(self) -> str:
        return "seed" if self.kind == SEED_FOLDER else "main"

    @property
    def label(self) -> str:
        """How reports name it: `0005`, or `seed-0001` on the seed track."""
        number = f"{self.version:04d}"
        return f"seed-{number}" if self.track == "seed" else number

    @property
    def directives(self) -> Directives:
        return self.file.directives


@dataclass
class Catalog:
    """Everything discovered under a migrations directory.

    `problems` holds what could not be placed (bad names, unknown folders, unreadable entries);
    the numbering check reports them, other checks report them only if they affect their work.
    """

    root: Path
    main: list[Migration] = field(default_factory=list)
    seeds: list[Migration] = field(default_factory=list)
    rollbacks: dict[int, list[SqlFile]] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)

    @property
    def head(self) -> int:
        return self.main[-1].version if self.main else 0

    def all_migrations(self) -> list[Migration]:
        return [*self.main, *self.seeds]

    def sql_files(self) -> list[SqlFile]:
        files = [m.file for m in self.all_migrations()]
        return files + [f for group in self.rollbacks.values() for f in group]

    def by_version(self, version: int) -> Migration | None:
        return next((m for m in self.main if m.version == version), None)


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file. Opened non-blocking and checked with fstat, so a FIFO (or
    device) named like a migration is an error instead of a read that waits forever."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file (a FIFO, socket or device), not SQL")
        # os.read on the descriptor: a quarter of the cost of Path.read_bytes (SPEC 8 budgets
        # for numbering/checksums read every file); read until EOF in case the file grew.
        chunks = [os.read(fd, info.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode_sql(data: bytes, path: Path) -> str:
    """Bytes of a SQL file as text with LF line ends, or one clear InputError."""
    if b"\x00" in data:
        raise InputError(f"{path}: binary file (contains NUL bytes), not SQL")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[error.start]:02x}); save it as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_directives(text: str, path: Path) -> Directives:
    """Read the `-- @word args` lines before the first statement; unknown words are errors."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        match = DIRECTIVE.match(stripped)
        if match is None:
            continue
        word, args = match["word"].lower(), match["args"]
        if word not in KNOWN_DIRECTIVES:
            known = ", ".join(f"@{w}" for w in KNOWN_DIRECTIVES)
            raise InputError(f"{path}:{number}: unknown directive @{word} (known: {known})")
        found[word] = _check_directive(word, args, path, number)
    return _directives_from(found)


def _check_directive(word: str, args: str, path: Path, number: int) -> str:
    if word == "batch" and not (args.isdigit() and int(args) > 0):
        raise InputError(f"{path}:{number}: @batch needs a positive row count (-- @batch 10000)")
    if word in ("irreversible", "progress", "allow-row-loss") and not args:
        raise InputError(f"{path}:{number}: @{word} needs an argument")
    return args


def _directives_from(found: dict[str, str]) -> Directives:
    tables = found.get("allow-row-loss", "")
    return Directives(
        irreversible=found.get("irreversible"),
        no_transaction="no-transaction" in found,
        batch=int(found["batch"]) if "batch" in found else None,
        progress=found.get("progress"),
        allow_row_loss=frozenset(t.strip().lower() for t in tables.split(",") if t.strip()),
    )


def parse_name(name: str) -> tuple[int, str] | None:
    """`0005_add_adt.sql` -> (5, "add_adt"); None when the name does not follow SPEC 2."""
    match = NAME.match(name)
    return (int(match["number"]), match["slug"]) if match else None


def discover(root: Path) -> Catalog:
    """Walk a migrations directory (subfolder or flat layout) into a Catalog."""
    if not root.is_dir():
        raise InputError(f"{root}: migrations directory not found (use --migrations-dir)")
    catalog = Catalog(root=root)
    for entry in _scan(root):
        if entry.name.startswith("."):
            continue  # .gitkeep and editor files are not migrations
        if entry.is_dir(follow_symlinks=False) and entry.name in KNOWN_FOLDERS:
            folder = root / entry.name
            for child in _scan(folder):
                if not child.name.startswith("."):
                    _place(catalog, _child(folder, child.name), entry.name, child)
        else:
            _place(catalog, _child(root, entry.name), None, entry)
    catalog.main.sort(key=lambda m: (m.version, m.kind, m.path.name))
    catalog.seeds.sort(key=lambda m: (m.version, m.path.name))
    _pair_rollbacks(catalog)
    return catalog


def _child(directory: Path, name: str) -> Path:
    """`directory / name` for a name from a listing; pathlib's own shortcut for that case skips
    re-parsing the path (a third of discover's time on 1,000 files), where this Python has it."""
    make = getattr(directory, "_make_child_relpath", None)
    return make(name) if make is not None else directory / name


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    """A directory's entries by name. os.scandir, not Path.iterdir + is_dir/is_symlink: the
    type comes with the listing, so 1,000 migrations cost no stat calls (SPEC 8 budget)."""
    with os.scandir(directory) as entries:
        return sorted(entries, key=lambda e: e.name)


def _place(
    catalog: Catalog, entry: Path, folder: str | None, info: os.DirEntry[str] | None = None
) -> None:
    parsed = parse_name(info.name if info is not None else entry.name)
    plain = parsed is not None and info is not None and info.is_file(follow_symlinks=False)
    problem = None if plain else _entry_problem(catalog.root, entry, folder, info)
    if problem:
        code, message, hint = problem
        catalog.problems.append(Finding("numbering", code, str(entry), None, message, hint))
        return
    assert parsed is not None  # _entry_problem rejects names that do not parse
    version, slug = parsed
    if folder == ROLLBACK_FOLDER:
        catalog.rollbacks.setdefault(version, []).append(SqlFile(entry))
        return
    kind = folder or "schema"
    migration = Migration(SqlFile(entry), kind, version, slug)
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
    if match["rest"] != match["rest"].lower():
        return f"'{name}' slug has upper-case letters"
    return f"'{name}' slug must be [a-z0-9_] after NNNN_"


def _pair_rollbacks(catalog: Catalog) -> None:
    """Give each main-track migration its rollback file. Of two migrations sharing a number
    (a numbering error), the one the rollback names (`rollback/0003_<slug>.sql`) gets it, else
    the first in order."""
    by_version: dict[int, list[Migration]] = {}
    for m in catalog.main:
        by_version.setdefault(m.version, []).append(m)
    paired: dict[int, Migration] = {}  # by id(): hashing a Path is slow (SPEC 8 budget)
    for version, files in catalog.rollbacks.items():
        candidates = by_version.get(version)
        if not candidates:
            continue
        slug = files[0].path.name[:-4].partition("_")[2]
        migration = next((m for m in candidates if m.slug == slug), candidates[0])
        paired[id(migration)] = Migration(
            migration.file, migration.kind, version, migration.slug, files[0]
        )
    if paired:
        catalog.main = [paired.get(id(m), m) for m in catalog.main]
