"""A private scratch directory, removed with what is in it: what `tempfile.TemporaryDirectory`
gives, without importing tempfile on the common path. tempfile brings shutil, random, bz2, lzma
and weakref: ~15M instructions, ~3 ms of every apply_empty process (a budgeted whole run).

Ctrl-C and SIGTERM (ci.app.program turns it into the same interruption) leave through the
`finally` that removes it. A process killed with -9 runs no `finally`, and its directory stays,
with a copy of the database in it. So, as with PostgreSQL's throwaway databases
(ci.db.postgres.throwaway), the creator holds a lock on its directory (flock on the directory
itself) for as long as it lives; the kernel drops the lock when the process dies, however it
dies. Before making its own, each run removes the directories named like ours, owned by this
user, whose lock it can take: their creator is gone. "Named like ours": `migration-guard-`, any
words, then 16 hex digits; older versions named theirs with 12 hex digits (or tempfile's 8
letters) and took no lock, so a live one of theirs is never taken for a leftover.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, so no leftover can be told from a live directory
    fcntl = None  # type: ignore[assignment]

_ATTEMPTS = 100  # as tempfile: a name taken by another process is tried again, not an error
_HEX_BYTES = 8  # 16 hex digits: see the module's docstring
_OURS = "migration-guard-"
_HEX = frozenset("0123456789abcdef")
_OPEN_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)

Notice = Callable[[str], None]


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def scratch_directory(prefix: str, *, notice: Notice | None = to_stderr) -> Iterator[Path]:
    """A new directory only this user may enter (mode 0700, a random name, made atomically by
    mkdir), under the directory tempfile would choose when TMPDIR, TEMP or TMP names it (else
    /tmp); removed on leaving, also after an error or an interruption. Leftovers of killed runs
    are removed first (`notice` is told which)."""
    base = _base()
    if base is not None:
        removed = remove_leftovers(base)
        if removed and notice is not None:
            notice(
                "removed scratch directories left by runs that did not finish: "
                + ", ".join(removed)
            )
    path, lock = _make(prefix, base)
    try:
        yield Path(path)
    finally:
        _remove(path)
        if lock is not None:
            os.close(lock)  # after the removal: a cleaner never sees it unlocked


def _base() -> str | None:
    base = next((os.environ[k] for k in ("TMPDIR", "TEMP", "TMP") if os.environ.get(k)), None)
    if base is None and os.name == "posix":
        base = "/tmp"
    return base


def _make(prefix: str, base: str | None) -> tuple[str, int | None]:
    """The new directory's path, and the descriptor holding its lock (None: no locks here)."""
    if base is not None:
        for _ in range(_ATTEMPTS):
            path = os.path.abspath(os.path.join(base, prefix + os.urandom(_HEX_BYTES).hex()))
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError:
                break  # not writable, not there: tempfile's own search decides
            locked, lock = _lock(path)
            if locked:
                return path, lock
            # a cleaner found it between mkdir and the lock, and removes it: another name
    import tempfile

    return tempfile.mkdtemp(prefix=prefix), None  # tempfile's name: never taken for a leftover


def _lock(path: str) -> tuple[bool, int | None]:
    """(usable, descriptor holding the lock of `path`). Unusable when a cleaner holds it or
    removed it meanwhile; usable without a lock where the file system has none."""
    if fcntl is None:
        return True, None
    try:
        fd = os.open(path, _OPEN_DIRECTORY)
    except OSError:
        return False, None  # removed already
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False, None
    except OSError:  # no locks on this file system: the directory works, unprotected
        os.close(fd)
        return True, None
    if _same_directory(path, fd):
        return True, fd
    os.close(fd)
    return False, None


def _same_directory(path: str, fd: int) -> bool:
    """Whether `path` still names the directory open as `fd` (not removed meanwhile)."""
    try:
        now, held = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def remove_leftovers(base: str) -> list[str]:
    """Remove each directory in `base` named like ours, owned by this user, whose lock is free
    (its creator is gone); their paths. Anything else, and any error, is left alone."""
    if fcntl is None:
        return []
    try:
        with os.scandir(base) as entries:
            named = [e.path for e in entries if e.name.startswith(_OURS)]
    except OSError:
        return []
    return [path for path in named if _remove_if_left(path)]


def named_like_ours(name: str) -> bool:
    """`migration-guard-`, lower-case words each ending in `-`, then 16 hex digits (a
    regular expression compiled on every start-up would cost more than the scan)."""
    words, digits = name[len(_OURS) : -2 * _HEX_BYTES], name[-2 * _HEX_BYTES :]
    if not name.startswith(_OURS) or len(digits) != 2 * _HEX_BYTES or not _HEX.issuperset(digits):
        return False
    if not words:
        return True
    parts = words[:-1].split("-")
    return words.endswith("-") and all(p.isalpha() and p.islower() and p.isascii() for p in parts)


def _remove_if_left(path: str) -> bool:
    if not named_like_ours(os.path.basename(path)):
        return False
    try:
        fd = os.open(path, _OPEN_DIRECTORY)  # a directory, not a symlink to one
    except OSError:
        return False
    try:
        info = os.fstat(fd)  # of what was opened: nothing swapped in between
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: its creator is alive
        if not _same_directory(path, fd):
            return False
        _remove(path)
        return not os.path.lexists(path)
    except OSError:
        return False
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    """The files SQLite left (the database, a journal) and the directory; anything else (a
    subdirectory) through shutil."""
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                os.unlink(entry.path)
        os.rmdir(path)
    except OSError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
