"""Migration files' checksums by their stat: a file whose device, inode, size, mtime and ctime
are what they were when it was last hashed is not read and hashed again. ci.db.drift asks it
whether an applied file is still as it was applied, on every `ci.migrate` start-up.

One cache file per migrations folder (keyed by the folder's real path), in the user's cache
directory: `$XDG_CACHE_HOME/migration-guard/`, else `~/.cache/migration-guard/`; never in the
repository or beside the database. A line per file: its name under the folder, the stat it had
when read, and the checksum of the bytes read then.

What it trusts, and why that is safe: writing to a file sets its ctime to the current time, and
no user-level call sets ctime back (os.utime and `touch -d` set mtime and atime only); a file
replaced by another has another inode or ctime. Only a changed system clock or a forged cache
file can make an edited file look unchanged, and `--verify` re-hashes every file regardless.

Racy entries (git's "racy clean" problem): on a file system with coarse timestamps, a file
written again within the same tick as it was read keeps its times. So an entry is kept only for
a file whose mtime and ctime are RACY_NS older than the moment the run started; a newer file is
hashed again next time.

A cache that cannot be read or written changes no verdict and says nothing: the files are hashed
as without it. A cached checksum can only ever confirm the checksum recorded in the database; a
file that does not match is read and judged from its bytes. MIGRATION_GUARD_NO_CACHE=1 turns
the cache off.
"""

from __future__ import annotations

import os
import stat
import struct
import time
from contextlib import suppress
from pathlib import Path

from ci.core.model import SqlFile
from ci.core.sqltext import CHECKSUM_PREFIX, checksum, raw_sha256

OFF = "MIGRATION_GUARD_NO_CACHE"
FORMAT = "migration-guard stat cache 2"  # 2: the stat key packed (1: decimal fields)
CHECKSUM_LENGTH = len(CHECKSUM_PREFIX) + 64  # v1: and a sha256 in hex
RACY_NS = 3_000_000_000  # above the coarsest common timestamp granularity (FAT: 2 s)


class StatCache:
    """The checksums of one migrations folder's files, by stat. `path` None: nothing is read or
    written (no cache directory, or turned off); `verify`: every file is read and hashed, and
    the entries are refreshed."""

    __slots__ = ("_changed", "_entries", "_prefix", "_started", "path", "root", "verify")

    def __init__(self, root: Path, path: Path | None, *, verify: bool = False) -> None:
        self.root = os.path.realpath(root)
        self.path = path
        self.verify = verify
        self._prefix = str(root / "_")[:-1]  # discover's spelling of `root / name`
        self._started = time.time_ns()  # before any file is looked at (racy entries)
        self._entries: dict[str, tuple[str, str]] = {}
        self._changed = False
        if path is not None:  # with verify too: the entries of files not looked at are kept
            self._entries = _load(path, self.root)

    def checksum(self, file: SqlFile) -> str | None:
        """The `v1:` checksum of the file's bytes: the cached one when its stat is the one
        recorded, else read and hashed now (and kept). None when it cannot be stat'ed or read as
        a regular file: the caller reads it the usual way, which says why."""
        name = self._name(file)
        if not self.verify:
            try:
                key = _key(os.stat(file.location))
            except OSError:
                return None
            entry = self._entries.get(name)
            if entry is not None and key is not None and entry[0] == key:
                return entry[1]
        read = _read_with_stat(file.location)
        if read is None:
            return None
        info, data = read
        value = checksum(data)
        key = _key(info)
        if key is not None and max(info.st_mtime_ns, info.st_ctime_ns) < self._started - RACY_NS:
            self._entries[name] = (key, value)
            self._changed = True
        elif self._entries.pop(name, None) is not None:
            self._changed = True
        return value

    def save(self) -> None:
        """Write the entries if any changed; a cache that cannot be written is left as it is."""
        if self.path is None or not self._changed:
            return
        lines = [f"{FORMAT}\t{self.root}\n"]
        lines += [f"{name}\t{key}\t{value}\n" for name, (key, value) in self._entries.items()]
        try:
            _write_atomically(self.path, "".join(lines).encode("utf-8"))
        except (OSError, UnicodeError):
            return
        self._changed = False

    def _name(self, file: SqlFile) -> str:
        location = file.location
        return location[len(self._prefix) :] if location.startswith(self._prefix) else location


def open_cache(root: Path, *, verify: bool = False) -> StatCache:
    """The stat cache of the migrations folder `root` (its file in the user's cache directory;
    no file at all when turned off or there is no cache directory)."""
    if os.environ.get(OFF):
        return StatCache(root, None, verify=verify)
    folder = cache_dir()
    if folder is None:
        return StatCache(root, None, verify=verify)
    name = raw_sha256(os.path.realpath(root).encode("utf-8", "surrogateescape"))[:32]
    return StatCache(root, folder / f"stat-{name}.tsv", verify=verify)


def cache_dir() -> Path | None:
    """`$XDG_CACHE_HOME/migration-guard` (an absolute XDG_CACHE_HOME only, as the XDG spec
    says), else `~/.cache/migration-guard`; None without a home directory."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "migration-guard"


# device, inode, size, mtime and ctime (ns), packed: the key is asked for every applied file on
# every start-up, and formatting five large integers in decimal cost ~7k instructions a file
_STAT = struct.Struct("<QQqqq")


def _key(info: os.stat_result) -> str | None:
    """The stat a cache entry is valid for, as text; None for values that do not fit (such a
    file is never cached: it is read and hashed each time)."""
    try:
        return _STAT.pack(
            info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
        ).hex()
    except struct.error:
        return None


def _read_with_stat(location: str) -> tuple[os.stat_result, bytes] | None:
    """The file's stat, then its bytes, from one descriptor: the stat a cache entry records is
    one the bytes were read after (a later write changes it). None unless a regular file that
    can be read; opened non-blocking, so a FIFO named like a migration never waits."""
    try:
        fd = os.open(location, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        chunks = [os.read(fd, info.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 16))
        return info, b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _load(path: Path, root: str) -> dict[str, tuple[str, str]]:
    """The entries of a cache file; {} when it is missing, unreadable, not a regular file, not
    ours alone (another user could write it) or not in our format. Opened non-blocking and
    without following a symlink: a FIFO planted at the path must not stall the run, and the
    file type is checked on the descriptor before anything is read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return {}
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid() or info.st_mode & 0o022 or not stat.S_ISREG(info.st_mode):
            return {}
        text = os.read(fd, info.st_size + 1).decode("utf-8")
    except (OSError, UnicodeError):
        return {}
    finally:
        os.close(fd)
    header, _, body = text.partition("\n")
    if header != f"{FORMAT}\t{root}":
        return {}
    # Three fields a line, split in one pass (a loop over the lines cost ~6M instructions for
    # 1,000 files, on every start-up): name, stat key, checksum, then the next line's name.
    fields = body.replace("\n", "\t").split("\t")
    names, keys, values = fields[0:-1:3], fields[1::3], fields[2::3]
    if fields[-1] or body.count("\n") != len(names) or len(names) != len(values):
        return {}  # damaged (cut short, a field too many or too few): hash all, rewrite it
    if values and set(map(len, values)) != {CHECKSUM_LENGTH}:
        return {}  # not ours, or damaged: hash everything, and rewrite it
    return dict(zip(names, zip(keys, values, strict=True), strict=True))


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a private file beside `path`, then rename it over `path` (readers see the old or
    the new file, never half of one). O_EXCL fails on anything already at the temporary path (a
    FIFO, a symlink to another file), without opening or following it: the cache is then not
    written this time."""
    os.makedirs(path.parent, mode=0o700, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
