"""The lock file `schema/migrations.lock`: every migration file's checksum, committed.

```
# migration-guard lock v1 sum:<sha256 of every line below>
schema/0001_initial.sql v1:<sha256> code:<16 hex>
data/0002_fill.sql v1:<sha256> code:<16 hex>
seed/0001_defaults.sql v1:<sha256> code:<16 hex>
```

Entries are sorted by track and number, and the first line hashes all of them, so two branches
that each add a migration both change the same lines and git reports a conflict (like atlas.sum)
instead of merging two files with the same number. `code:` is a fingerprint of the statements
without comments and whitespace: it lets a later edit be described as "only whitespace/comments
changed" or "statements changed" without keeping the old text.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from ci.core.findings import Record
from ci.core.model import MAIN_FOLDERS, SEED_FOLDER, InputError, decode_sql, parse_name
from ci.core.sqltext import CHECKSUM_PREFIX, checksum, code_fingerprint, raw_sha256

LOCK_NAME = "migrations.lock"
HEADER = "# migration-guard lock v1 sum:"
CODE_PREFIX = "code:"
CODE_LENGTH = 16
CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")


class Entry(Record):
    """One line of the lock: a migration path (relative to the migrations dir) and its hashes.
    A plain record, not a NamedTuple: `typing` alone costs ~4% of ci.checksums' start-up.
    Treated as immutable."""

    FIELDS = ("path", "checksum", "code", "line", "text")
    __slots__ = FIELDS

    def __init__(self, path: str, checksum: str, code: str | None, line: int, text: str) -> None:
        self.path = path
        self.checksum = checksum
        self.code = code
        self.line = line  # line number in the lock file
        self.text = text  # the line exactly as stored

    @property
    def key(self) -> tuple[int, int, str]:
        return sort_key(self.path)


class Lock:
    """A parsed lock file. `problems` are (line, message) for lines that are not entries.

    (Plain classes, not dataclasses, in the static checks: each dataclass costs ~1 ms of
    startup, and the performance budgets measure the whole process.)
    """

    def __init__(self, path: Path, stored_sum: str | None = None) -> None:
        self.path = path
        self.stored_sum = stored_sum
        self.entries: dict[str, Entry] = {}
        self.problems: list[tuple[int, str]] = []
        self.conflict_line: int | None = None

    @property
    def lines(self) -> list[str]:
        return [entry.text for entry in self.entries.values()]

    @property
    def sum_ok(self) -> bool:
        return not self.problems and self.stored_sum == body_sum(self.lines)


def default_path(migrations_dir: Path) -> Path:
    """`schema/migrations` -> `schema/migrations.lock` (a sibling of the directory)."""
    return Path(os.path.normpath(migrations_dir / os.pardir)) / LOCK_NAME


def sort_key(relative: str) -> tuple[int, int, str]:
    """Main track (schema, data, flat interleaved) by number, then seeds, then anything else."""
    folder, _, name = relative.rpartition("/")
    parsed = parse_name(name)
    if parsed is None or folder not in ("", *MAIN_FOLDERS, SEED_FOLDER):
        return (2, 0, relative)
    return (1 if folder == SEED_FOLDER else 0, parsed[0], relative)


def body_sum(lines: list[str]) -> str:
    body = "".join(line + "\n" for line in lines)
    return raw_sha256(body.encode("utf-8", "surrogateescape"))  # no OpenSSL load


def code_of(data: bytes, engine: str = "sqlite") -> str | None:
    """The short statement fingerprint of a file's bytes; None when it is not UTF-8 text."""
    try:
        text = decode_sql(data, Path("-"))
    except InputError:
        return None
    return code_fingerprint(text, engine)[:CODE_LENGTH]


def entry_text(relative: str, data: bytes, engine: str = "sqlite") -> str:
    code = code_of(data, engine)
    suffix = f" {CODE_PREFIX}{code}" if code else ""
    return f"{relative} {checksum(data)}{suffix}"


def read(path: Path) -> Lock | None:
    """The lock at `path`, or None when there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise InputError(f"{path}: cannot read the lock file: {error.strerror}") from None
    text = data.decode("utf-8", "surrogateescape")
    if "\r" in text:  # one scan instead of two copies of the lock for the common LF file
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return parse(path, text)


def parse(path: Path, text: str) -> Lock:
    lock = Lock(path)
    lines = text.split("\n")
    if lines[0].startswith(CONFLICT_MARKERS):
        lock.conflict_line = 1
        lock.problems.append((1, "git conflict marker"))
    elif lines[0].startswith(HEADER):
        lock.stored_sum = lines[0][len(HEADER) :].strip()
    else:
        lock.problems.append((1, f"first line is not '{HEADER}<sha256>'"))
    entries, cut = lock.entries, len(CODE_PREFIX)
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split(" ")
        # the common line, `path v1:<sha256> code:<hex>`, in one test (the whole lock is read
        # on every ci.checksums start-up); any other line is judged below, as it always was
        if (
            len(parts) == 3
            and parts[1].startswith(CHECKSUM_PREFIX)
            and parts[2].startswith(CODE_PREFIX)
            and parts[0] not in entries
            and not line.startswith(CONFLICT_MARKERS)
        ):
            entries[parts[0]] = Entry(parts[0], parts[1], parts[2][cut:], number, line)
            continue
        if not line.strip():
            continue
        if line.startswith(CONFLICT_MARKERS):
            lock.conflict_line = lock.conflict_line or number
            lock.problems.append((number, "git conflict marker"))
            continue
        entry = _entry(line, number)
        if isinstance(entry, str):
            lock.problems.append((number, entry))
        elif entry.path in lock.entries:
            lock.problems.append((number, f"second entry for {entry.path}"))
        else:
            lock.entries[entry.path] = entry
    return lock


def _entry(line: str, number: int) -> Entry | str:
    parts = line.split(" ")
    code = None
    if len(parts) == 3 and parts[2].startswith(CODE_PREFIX):
        code = parts.pop()[len(CODE_PREFIX) :]
    if len(parts) != 2 or not parts[1].startswith(CHECKSUM_PREFIX):
        return f"not '<path> {CHECKSUM_PREFIX}<sha256> {CODE_PREFIX}<hex>': {line[:80]!r}"
    return Entry(parts[0], parts[1], code, number, line)


def render(lines: list[str]) -> str:
    ordered = sorted(lines, key=lambda line: sort_key(line.split(" ", 1)[0]))
    return HEADER + body_sum(ordered) + "\n" + "".join(line + "\n" for line in ordered)


def write(path: Path, lines: list[str]) -> None:
    """Write the lock atomically (a crash leaves the old lock or the new one)."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_bytes(render(lines).encode("utf-8", "surrogateescape"))
        os.replace(temporary, path)
    except OSError as error:
        raise InputError(f"{path}: cannot write the lock file: {error.strerror}") from None


def writable(lock: Lock) -> None:
    """Raise InputError (one line) when the lock cannot be written safely."""
    if lock.conflict_line is not None:
        raise InputError(
            f"{lock.path}:{lock.conflict_line}: the lock has git conflict markers; take the "
            f"target branch's lock (e.g. git checkout origin/main -- {lock.path}), renumber "
            "your migration if ci.numbering asks (python -m ci.new --renumber FILE), then "
            "python -m ci.checksums --update"
        )
    bad = [(n, m) for n, m in lock.problems if n != 1]
    if bad:
        number, message = bad[0]
        raise InputError(f"{lock.path}:{number}: {message}; fix or delete the line, then retry")


def update(
    lock: Lock,
    files: dict[str, bytes],
    *,
    refresh: Collection[str] = (),
    engine: str = "sqlite",
) -> list[str]:
    """Add an entry for each file the lock lacks; existing entries are kept byte for byte,
    except those in `refresh` (the caller's unmerged work), rewritten from `files` or dropped
    when the file is gone.

    Writes the lock (with a fresh sum) and returns the relative paths that were added.
    """
    writable(lock)
    added = sorted((p for p in files if p not in lock.entries), key=sort_key)
    kept = [e.text for p, e in lock.entries.items() if p not in refresh]
    renewed = [entry_text(p, files[p], engine) for p in refresh if p in files]
    if added or refresh or not lock.sum_ok:
        write(lock.path, [*kept, *renewed, *(entry_text(p, files[p], engine) for p in added)])
    return added


def rehash(
    lock: Lock, relative: str, data: bytes | None, engine: str = "sqlite"
) -> tuple[str | None, str | None]:
    """Rewrite (or, when `data` is None because the file is gone, remove) one entry.

    Returns (old checksum, new checksum); writes the lock.
    """
    writable(lock)
    old = lock.entries.get(relative)
    lines = [e.text for p, e in lock.entries.items() if p != relative]
    new = None
    if data is not None:
        lines.append(entry_text(relative, data, engine))
        new = checksum(data)
    write(lock.path, lines)
    return (old.checksum if old else None, new)
