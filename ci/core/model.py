"""The migrations directory as data: files, names, tracks, rollbacks, directives.

No SQLite connection is opened here. Reading a file that is not valid input raises `InputError`
with one line naming the file (and the line), which the checks turn into a finding.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from ci.core.findings import Finding, Record
from ci.core.sqltext import LazyPattern, Statement, checksum, directive_lines, split_statements

MAIN_FOLDERS = ("schema", "data")
SEED_FOLDER = "seed"
ROLLBACK_FOLDER = "rollback"
KNOWN_FOLDERS = (*MAIN_FOLDERS, SEED_FOLDER, ROLLBACK_FOLDER)
DEFAULT_MIGRATIONS_DIR = "schema/migrations"

NAME = re.compile(r"^(?P<number>\d{4,})_(?P<slug>[a-z0-9_]+)\.sql$")
# Migration numbers: 0 reads as "nothing applied" (and --rollback 0 would mean everything), and
# a number of more than nine digits is a typo or a timestamp, not the next number of a sequence
# that is never skipped; both would be printed as the database's version.
FIRST_VERSION, LAST_VERSION = 1, 999_999_999
VERSION_RANGE = f"{FIRST_VERSION:04d} and {LAST_VERSION}"
LOOSE_NAME = LazyPattern(r"^(?P<number>-?\d+)[_-]?(?P<rest>.*)$")
KNOWN_DIRECTIVES = ("irreversible", "no-transaction", "batch", "progress", "allow-row-loss")


class InputError(Exception):
    """A user's file or argument that cannot be used; the message is one line naming it."""


# The classes below are plain classes with __slots__, not dataclasses: `discover` makes one
# SqlFile and one Migration per file, and `import dataclasses` alone costs ~12 ms, for checks whose
# whole process the performance budgets measure (numbering, checksums: 2x `python -c "import
# sqlite3"`). They keep
# the dataclasses' constructors, `==` and `repr`.


class Directives(Record):
    """The `-- @word args` lines of a file. Treated as immutable."""

    FIELDS = ("irreversible", "no_transaction", "batch", "progress", "allow_row_loss")
    __slots__ = FIELDS

    def __init__(
        self,
        irreversible: str | None = None,
        no_transaction: bool = False,
        batch: int | None = None,
        progress: str | None = None,
        allow_row_loss: frozenset[str] = frozenset(),
    ) -> None:
        self.irreversible = irreversible
        self.no_transaction = no_transaction
        self.batch = batch
        self.progress = progress
        self.allow_row_loss = allow_row_loss

    def allows_row_loss(self, table: str) -> bool:
        return "*" in self.allow_row_loss or table.lower() in self.allow_row_loss


class SqlFile:
    """A readable SQL file: its bytes, text and statements, parsed once.

    `location` is the path as text (`str(path)`; discover passes it as text in that form) and
    `path` is made from it on first use: discover builds one SqlFile per file, and the static
    checks mostly need only names and bytes.
    """

    __slots__ = (
        "_checksum",
        "_data",
        "_directives",
        "_path",
        "_statements",
        "_text",
        "location",
    )

    def __init__(self, path: Path | str) -> None:
        self._path = path if isinstance(path, Path) else None
        self.location = str(path)
        self._data: bytes | None = None
        self._text: str | None = None
        self._statements: list[Statement] | None = None
        self._checksum: str | None = None
        self._directives: Directives | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = Path(self.location)
        return self._path

    @property
    def name(self) -> str:
        """The file name (`path.name`, without making the Path)."""
        return self.location.rpartition(os.sep)[2]

    @property
    def data(self) -> bytes:
        if self._data is None:
            try:
                self._data = _read_regular_file(self.location)
            except IsADirectoryError:
                raise InputError(f"{self.location}: is a directory, not a SQL file") from None
            except OSError as error:
                raise InputError(f"{self.location}: cannot read: {error.strerror}") from None
        return self._data

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = decode_sql(self.data, self.location)
        return self._text

    @property
    def statements(self) -> list[Statement]:
        if self._statements is None:
            self._statements = split_statements(self.text)
        return self._statements

    @property
    def checksum(self) -> str:
        if self._checksum is None:
            self._checksum = checksum(self.data)
        return self._checksum

    @property
    def directives(self) -> Directives:
        if self._directives is None:
            self._directives = parse_directives(self.text, self.location)
        return self._directives

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SqlFile):
            return NotImplemented
        return self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"SqlFile(path={self.path!r})"


class Migration(Record):
    """A numbered migration file (main or seed track) and its rollback file, if any."""

    FIELDS = ("file", "kind", "version", "slug", "rollback")
    __slots__ = FIELDS

    def __init__(
        self,
        file: SqlFile,
        kind: str,  # "schema", "data" or "seed" (flat files in the root count as "schema")
        version: int,
        slug: str,
        rollback: SqlFile | None = None,
    ) -> None:
        self.file = file
        self.kind = kind
        self.version = version
        self.slug = slug
        self.rollback = rollback

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def track(self) -> str:
        return track_of(self.kind)

    @property
    def label(self) -> str:
        return label_of(self.track, self.version)

    @property
    def directives(self) -> Directives:
        return self.file.directives


class Catalog(Record):
    """Everything discovered under a migrations directory.

    `problems` holds what could not be placed (bad names, unknown folders, unreadable entries);
    the numbering check reports them, other checks report them only if they affect their work.
    `symlinks` holds the path (as text) of every listed entry that is a symbolic link.
    """

    FIELDS = ("root", "main", "seeds", "rollbacks", "problems", "symlinks")
    __slots__ = FIELDS

    def __init__(
        self,
        root: Path,
        main: list[Migration] | None = None,
        seeds: list[Migration] | None = None,
        rollbacks: dict[int, list[SqlFile]] | None = None,
        problems: list[Finding] | None = None,
        symlinks: set[str] | None = None,
    ) -> None:
        self.root = root
        self.main: list[Migration] = [] if main is None else main
        self.seeds: list[Migration] = [] if seeds is None else seeds
        self.rollbacks: dict[int, list[SqlFile]] = {} if rollbacks is None else rollbacks
        self.problems: list[Finding] = [] if problems is None else problems
        self.symlinks: set[str] = set() if symlinks is None else symlinks

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

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was


def track_of(kind: str) -> str:
    """The track of a migration kind (or `migration_type`): 'seed', or 'main' for the others."""
    return "seed" if kind == SEED_FOLDER else "main"


def label_of(track: str, version: int) -> str:
    """How reports name a migration: `0005`, or `seed-0001` on the seed track."""
    number = f"{version:04d}"
    return f"seed-{number}" if track == "seed" else number


DIRECTORY, FIFO, OTHER_SPECIAL = "a directory", "a FIFO (named pipe)", "a socket or a device"


def read_ahead(files: Iterable[SqlFile]) -> None:
    """Read, decode, split and hash these files now, one after the other, before a loop runs
    their SQL. It is the same work as doing each when its turn comes, but done between SQLite's
    statements each side pushes the other's working set out of the CPU caches: 5-9% of the
    whole `ci.apply_empty` on 1,000 migrations (paired runs). A file that cannot be read is
    left for its own step to report, as it would have been."""
    for file in files:
        with suppress(InputError):
            file.statements  # noqa: B018  # each property is computed once, then kept
            file.checksum  # noqa: B018
            file.directives  # noqa: B018


def special_file_kind(path: Path | str) -> str | None:
    """What `path` is when it is not a regular file (DIRECTORY, FIFO, OTHER_SPECIAL); None for a
    regular file. From the metadata alone: opening a FIFO to look at it would wait forever for
    a writer. OSError (missing, broken symlink, no permission) is the caller's to word."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return DIRECTORY
    return FIFO if stat.S_ISFIFO(mode) else OTHER_SPECIAL


def not_a_database_file(path: Path | str) -> str | None:
    """Why `path` cannot be a database file, as `path: reason`; None for a regular file or a
    path that does not exist (whether that is fine is the caller's to say)."""
    try:
        kind = special_file_kind(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{path}: cannot read: {error.strerror}"
    if kind is None:
        return None
    if kind == DIRECTORY:
        return f"{path}: is a directory, not a database file"
    return f"{path}: not a regular file (a FIFO, socket or device), not a database file"


def _read_regular_file(path: Path | str) -> bytes:
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
        # os.read on the descriptor: a quarter of the cost of Path.read_bytes (the performance
        # budgets measure
        # for numbering/checksums read every file). One read when it returns exactly the size
        # fstat gave; otherwise (the file changed, or a read capped at 2 GiB) read on until EOF.
        # (Each os.read allocates its full size: a 1 MiB read per file doubled the cost.)
        data = os.read(fd, info.st_size + 1)
        if len(data) == info.st_size:
            return data
        chunks = [data]
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 16))
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode_sql(data: bytes, path: Path | str) -> str:
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


def parse_directives(text: str, path: Path | str) -> Directives:
    """Read the `-- @word args` lines before the first statement; unknown words are errors."""
    found: dict[str, str] = {}
    for number, match in directive_lines(text):
        word, args = match["word"].lower(), match["args"]
        if word not in KNOWN_DIRECTIVES:
            known = ", ".join(f"@{w}" for w in KNOWN_DIRECTIVES)
            raise InputError(f"{path}:{number}: unknown directive @{word} (known: {known})")
        found[word] = _check_directive(word, args, path, number)
    return _directives_from(found)


def _check_directive(word: str, args: str, path: Path | str, number: int) -> str:
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
    """`0005_add_adt.sql` -> (5, "add_adt"); None when the name does not follow the naming
    rule (including a number outside FIRST_VERSION..LAST_VERSION)."""
    match = NAME.match(name)
    if match is None:
        return None
    number = int(match["number"])
    return (number, match["slug"]) if FIRST_VERSION <= number <= LAST_VERSION else None


def version_in_range(number: int) -> bool:
    return FIRST_VERSION <= number <= LAST_VERSION


def missing_migrations_dir(root: Path) -> InputError:
    """The one wording every command uses (so `python -m ci` can say it once for all checks)."""
    return InputError(
        f"{root}: migrations directory not found (run from the project root, where "
        "migration-guard.yaml is, or give --migrations-dir)"
    )


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
            catalog.problems.append(Finding("numbering", code, location, None, message, hint))
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
