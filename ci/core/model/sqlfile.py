"""Reading a SQL file: only a regular file, decoded to LF text, split, hashed, each once.

A FIFO or a device named like a migration is an error, never a read that waits forever; what a
path is when it is not a regular file is said from its metadata alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path

from ci.core.model.directives import Directives, parse_directives
from ci.core.model.layout import InputError
from ci.core.sqltext import Statement, checksum, split_statements

# How a file's text becomes statements: (text, the file's location for messages) -> statements.
# SQLite's splitter when none is given; another engine's (PostgreSQL's dollar quotes) comes
# from the layer that knows it, so this module imports no engine's parser.
Splitter = Callable[[str, str], "list[Statement]"]


class SqlFile:
    """A readable SQL file: its bytes, text and statements, parsed once.

    `location` is the path as text (`str(path)`; discover passes it as text in that form) and
    `path` is made from it on first use: discover builds one SqlFile per file, and the static
    checks mostly need only names and bytes. `splitter` splits the text into statements (None:
    SQLite's rules).
    """

    __slots__ = (
        "_checksum",
        "_data",
        "_directives",
        "_path",
        "_statements",
        "_text",
        "location",
        "splitter",
    )

    def __init__(self, path: Path | str, splitter: Splitter | None = None) -> None:
        self._path = path if isinstance(path, Path) else None
        self.location = str(path)
        self._data: bytes | None = None
        self._text: str | None = None
        self._statements: list[Statement] | None = None
        self._checksum: str | None = None
        self._directives: Directives | None = None
        self.splitter = splitter

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
            splitter = self.splitter
            text = self.text
            self._statements = (
                split_statements(text) if splitter is None else splitter(text, self.location)
            )
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
    name = str(path)
    if name == ":memory:" or name.startswith("file:"):
        # SQLite would open a database in memory or read the name as a URI (another file, a
        # mode): the run would report success and leave nothing where the user looks
        return (
            f"{name}: an in-memory database or a URI, not a database file "
            f"(give the file's path; ./{name} for a file of that name)"
        )
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
        # budgets for numbering/checksums read every file). One read when it returns exactly
        # the size fstat gave; otherwise (the file changed, or a read capped at 2 GiB) read on
        # until EOF.
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
