"""The files the tool writes on request (--junit, --write-snapshot's file): one guard, one writer.

A mistyped path (`--junit $DB`, `--junit schema/migrations/...`) must never turn the user's
database or a migration into a report. An existing file is replaced only when it is empty or
already holds that kind of output; the refusal is one line, given before any check runs, and the
file is written whole or not at all (a temporary file beside it, then a rename).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

# What a previous report starts with, after optional whitespace and a byte order mark.
JUNIT_STARTS = (b"<?xml", b"<testsuites")
HEAD_BYTES = 512


class OutputRefused(Exception):
    """The output path would replace a file that is not a previous output of the same kind."""


def refusal(
    path: Path,
    *,
    option: str,
    kind: str,
    starts: tuple[bytes, ...],
    inputs: Iterable[Path | None] = (),
    migrations_dir: Path | None = None,
) -> str | None:
    """Why `path` must not be written, in one line, or None when it may be.

    A symlink counts as what it points to. A character device (/dev/null, /dev/stdout, a
    terminal) or a FIFO is written through and never read (reading a FIFO would wait forever);
    a regular file only when it is empty or a previous output; anything else is refused."""
    target = path.resolve()
    for given in inputs:
        if given is not None and _same_file(given, path):
            return f"{option} {path}: that is the database this command reads; give another path"
    if migrations_dir is not None:
        root = migrations_dir.resolve()
        if root == target or root in target.parents:
            return (
                f"{option} {path}: inside the migrations directory {migrations_dir}; "
                "write it elsewhere"
            )
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None  # created by the write (a dangling symlink's target likewise)
    except OSError as error:
        return f"{option} {path}: cannot be checked: {error.strerror}"
    if stat.S_ISDIR(mode):
        return f"{option} {path}: is a directory"
    if _written_through(mode):
        return None
    if not stat.S_ISREG(mode):
        return (
            f"{option} {path}: is not a regular file, a character device or a FIFO; "
            "give another path"
        )
    if not _holds(path, starts):
        return (
            f"{option} {path}: refusing to overwrite an existing file that is not {kind} "
            "(only an empty file or a previous one is replaced); give another path"
        )
    return None


def _same_file(given: Path, path: Path) -> bool:
    """The same file under another name too: a symlink or a hard link to the database."""
    if given.resolve() == path.resolve():
        return True
    try:
        return os.path.samefile(given, path)
    except OSError:  # one of them does not exist yet
        return False


def _written_through(mode: int) -> bool:
    """Devices such as /dev/null or a terminal, and pipes: opened for writing, never replaced."""
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _holds(path: Path, starts: tuple[bytes, ...]) -> bool:
    """Whether the regular file is empty or begins like a previous output of this kind.
    Opened without waiting, and only read once it is known to be a regular file."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return False
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        head = file.read(HEAD_BYTES)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return not head or head.startswith(starts)


def write_atomically(path: Path, text: str, *, refused: str | None = None) -> None:
    """Write `text` to `path` through a temporary file and a rename: a reader (or a crash)
    never sees half a file. `refused` is the guard's verdict, checked again just before.
    A symlink keeps being a link (its target is replaced); a device or FIFO is written into."""
    if refused is not None:
        raise OutputRefused(refused)
    if _write_through(path, text):
        return
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    temporary = real.with_name(f".{real.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, real)
    finally:
        if temporary.exists():
            temporary.unlink()


def _write_through(path: Path, text: str) -> bool:
    """Write into the character device or FIFO at `path`; False when it is not one (or
    missing). Opened without creating or truncating: whatever else it turns out to be is
    left as it was."""
    try:
        if not _written_through(os.stat(path).st_mode):
            return False
    except FileNotFoundError:
        return False
    descriptor = os.open(path, os.O_WRONLY | os.O_NOCTTY)
    with os.fdopen(descriptor, "wb") as file:
        if not _written_through(os.fstat(descriptor).st_mode):
            raise OutputRefused(f"{path}: changed while the check ran; nothing written")
        file.write(text.encode("utf-8"))
    return True
