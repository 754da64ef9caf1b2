"""The files the tool writes on request (--junit, --write-snapshot's file): one guard, one writer.

A mistyped path (`--junit $DB`, `--junit schema/migrations/...`) must never turn the user's
database or a migration into a report. An existing file is replaced only when it is empty or
already holds that kind of output; the refusal is one line, given before any check runs, and the
file is written whole or not at all (a temporary file beside it, then a rename).
"""

from __future__ import annotations

import os
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
    """Why `path` must not be written, in one line, or None when it may be."""
    target = path.resolve()
    for given in inputs:
        if given is not None and given.resolve() == target:
            return f"{option} {path}: that is the database this command reads; give another path"
    if migrations_dir is not None:
        root = migrations_dir.resolve()
        if root == target or root in target.parents:
            return (
                f"{option} {path}: inside the migrations directory {migrations_dir}; "
                "write it elsewhere"
            )
    if target.is_dir():
        return f"{option} {path}: is a directory"
    if target.exists() and not _holds(target, starts):
        return (
            f"{option} {path}: refusing to overwrite an existing file that is not {kind} "
            "(only an empty file or a previous one is replaced); give another path"
        )
    return None


def _holds(path: Path, starts: tuple[bytes, ...]) -> bool:
    """Whether the file is empty or begins like a previous output of this kind."""
    try:
        with path.open("rb") as file:
            head = file.read(HEAD_BYTES)
    except OSError:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return not head or head.startswith(starts)


def write_atomically(path: Path, text: str, *, refused: str | None = None) -> None:
    """Write `text` to `path` through a temporary file and a rename: a reader (or a crash)
    never sees half a file. `refused` is the guard's verdict, checked again just before."""
    if refused is not None:
        raise OutputRefused(refused)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
