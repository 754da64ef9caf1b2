"""Online backups with SQLite's backup API before the runner changes a database; `written` also
keeps PostgreSQL's `pg_dump` archives (ci.db.postgres.backup) from ever being half there."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path


def default_path(db: Path) -> Path:
    """`<db>.bak-<UTC timestamp>`, never an existing file."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return _first_free(db.with_name(f"{db.name}.bak-{stamp}"))


def _first_free(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`, ...: the first name no file has."""
    candidate = path
    counter = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.name}-{counter}")
        counter += 1
    return candidate


def has_data(conn: sqlite3.Connection) -> bool:
    """Whether the database holds anything at all (a new, empty file needs no backup)."""
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None


class BackupExists(Exception):
    """The backup's path was taken by another file meanwhile; nothing was overwritten."""


# SQLite's own files beside a database: a backup written there is deleted or overwritten by the
# next transaction, or read back as the database's journal.
COMPANIONS = ("-journal", "-wal", "-shm")


def unusable_destination(dest: Path, db: Path) -> str | None:
    """Why `dest` cannot take a backup of `db` (one line naming it), or None.

    A backup never replaces a file: an explicit path that exists may be another database.
    The database itself (by any spelling, a symlink or a hard link) would be copied onto itself,
    which waits forever for its own lock.
    """
    if _same_file(dest, db) or any(
        dest.resolve() == db.resolve().with_name(db.resolve().name + suffix)
        for suffix in COMPANIONS
    ):
        return f"{dest}: is the database {db} itself (or one of its own files); choose a new path"
    return unwritable_path(dest)


def unwritable_path(dest: Path) -> str | None:
    """Why no new backup can be written at `dest` (one line naming it), or None: a backup of
    either engine never replaces a file."""
    if any(parent.exists() and not parent.is_dir() for parent in dest.parents):
        return f"{dest}: cannot be created: a parent of it is a file, not a directory"
    if dest.exists() or dest.is_symlink():
        return (
            f"{dest}: already exists; a backup never overwrites a file (choose a new path, or "
            "move that file away)"
        )
    return None


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist: not the same file
        return False


def take(conn: sqlite3.Connection, dest: Path, *, next_free_name: bool = False) -> Path:
    """Copy the whole database to `dest` consistently, even while others read it; return the
    backup's path. If a file appears at `dest` meanwhile it is kept: BackupExists, or with
    `next_free_name` (the default path, which two runners may pick in the same second) the
    backup takes `dest-2`, `dest-3`, ... (See `written`.)"""
    return written(lambda partial: copy_to(conn, partial), dest, next_free_name=next_free_name)


def written(copy: Callable[[Path], None], dest: Path, *, next_free_name: bool = False) -> Path:
    """`copy(path)` writes a backup into a new file; it is called with a temporary name in the
    same directory as `dest`, the file is flushed to disk, then linked to `dest`, so `dest` is
    either absent or a complete backup: a full disk, an error or a kill -9 midway never leaves
    a file there that opens as an empty or partial backup. Returns the backup's path."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)  # left by a killed run that had our pid: ours to replace
    try:
        copy(partial)
        _fsync(partial)
        while True:
            try:
                _publish(partial, dest)
                break
            except BackupExists:
                if not next_free_name:
                    raise
                dest = _first_free(dest)
    finally:
        partial.unlink(missing_ok=True)
    _fsync_directory(dest.parent)
    return dest


def copy_to(conn: sqlite3.Connection, path: Path) -> None:
    """`conn`'s database copied into a new file `path` with SQLite's backup API, unjournaled and
    unsynced: a copy that stops midway is thrown away, never recovered."""
    target = sqlite3.connect(str(path))
    try:
        # no journal beside the temporary file (a kill would leave it behind): an interrupted
        # copy is thrown away, never recovered; we flush to disk ourselves once it is complete
        target.execute("PRAGMA journal_mode = OFF")
        target.execute("PRAGMA synchronous = OFF")
        conn.backup(target)
    finally:
        target.close()


def _publish(partial: Path, dest: Path) -> None:
    """Give the complete copy its name; a file that appeared at `dest` meanwhile is kept."""
    try:
        os.link(partial, dest)  # unlike a rename, a link never replaces an existing file
    except FileExistsError:
        raise BackupExists(dest) from None
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if dest.exists():
            raise BackupExists(dest) from None
        os.replace(partial, dest)


# Filesystems without hard links (FAT, some network shares) say so with one of these.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(path: Path) -> None:
    """Make the new name itself durable (POSIX; a directory cannot be opened on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
