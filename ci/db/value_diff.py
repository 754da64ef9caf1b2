"""Value-level images of tables and what differs between two of them, per column.

An `Image` is one table's rows keyed by primary key (rowid when there is none), each row a tuple
of *cells*: a number, NULL, a short text or blob as it is, and a longer one as a `Long` (its length,
its first characters and a hash), so an image costs a bounded amount per row however large the
values are. `Images` keeps an image of every table of one connection current while steps run,
reading again only the tables a step changed (the fingerprint `Tracker` knows which), streamed in
batches. `diff` compares two images on their common columns: rows lost, rows added, and per column
the values changed, turned NULL or filled in, with counts and up to `EXAMPLES` examples.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ci.db.fingerprint import Fingerprint, TablePrint

BATCH = 512
EXAMPLES = 3
SHORT = 40  # texts and blobs up to this length are kept as they are


class Long(NamedTuple):
    """A long text or blob: equal when length, prefix and hash are equal."""

    length: int
    prefix: str | bytes
    digest: bytes

    def __str__(self) -> str:
        unit = "chars" if isinstance(self.prefix, str) else "bytes"
        return f"{shown(self.prefix)[:-1]}...' ({self.length:,} {unit})"


def cell(value: object) -> object:
    """What an image keeps of one value."""
    if isinstance(value, str | bytes) and len(value) > SHORT:
        return _long_cell(value)
    return value


def shown(value: object) -> str:
    """A cell as a reviewer reads it: NULL, 42, 'text', x'00ff', 'long...' (300 chars)."""
    if value is None:
        return "NULL"
    if isinstance(value, Long):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    return repr(value)


def identical(before: object, after: object) -> bool:
    """Equal values of the same storage class (5 and 5.0 differ, as SQLite stores them)."""
    return type(before) is type(after) and before == after


def same(before: object, after: object) -> bool:
    """Equal values, also across a column affinity change ('5' and 5, 5 and 5.0)."""
    if before == after:
        return True
    numbers = (int, float)
    if isinstance(before, str) and isinstance(after, numbers) and not isinstance(after, bool):
        before, after = after, before
    if isinstance(before, numbers) and isinstance(after, str):
        try:
            return float(after.strip()) == before
        except ValueError:
            return False
    return False


@dataclass(frozen=True)
class Image:
    """One table's rows: {key: cells}, the columns in cell order, and what the key is."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # primary key columns (lower case), or ("rowid",)
    rows: Mapping[tuple[object, ...], tuple[object, ...]]
    source: TablePrint | None = None  # the fingerprint it was read for (reused when unchanged)

    @property
    def by_rowid(self) -> bool:
        return self.key == ("rowid",)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


LONG_CELL = "migration_guard_long_cell"  # registered on the connection the images read


def _long_cell(value: str | bytes) -> Long:
    raw = value.encode() if isinstance(value, str) else value
    return Long(len(value), value[:SHORT], hashlib.blake2b(raw, digest_size=8).digest())


def _long_cell_sql(value: str | bytes) -> str:
    """What SQLite hands back for a long value: a tagged text `read_image` turns into a Long."""
    long = _long_cell(value)
    kind = "t" if isinstance(value, str) else "b"
    prefix = long.prefix if isinstance(long.prefix, str) else long.prefix.hex()
    return f"\x00{kind}{long.digest.hex()}{long.length:x}:{prefix}"


def _from_sql(value: object) -> object:
    if not isinstance(value, str) or not value.startswith("\x00") or ":" not in value:
        return value
    try:
        kind, digest, rest = value[1], bytes.fromhex(value[2:18]), value[18:]
        length, prefix = rest.split(":", 1)
        return Long(int(length, 16), prefix if kind == "t" else bytes.fromhex(prefix), digest)
    except (ValueError, IndexError):  # a short text of the user's that starts with NUL
        return value


def _select(column: str) -> str:
    """The column as an image keeps it: long texts and blobs turned into tagged digests by
    SQLite's call of LONG_CELL (Python runs only for those, not for every value)."""
    c = quote(column)
    return (
        f"CASE WHEN typeof({c}) IN ('text', 'blob') AND length({c}) > {SHORT} "
        f"THEN {LONG_CELL}({c}) ELSE {c} END"
    )


def read_image(conn: sqlite3.Connection, shape: TablePrint) -> Image | None:
    """The image of one table now; None for a view or a virtual table."""
    if shape.kind != "table" or not shape.columns or _is_virtual(shape):
        return None
    columns = tuple(c.name for c in shape.columns if c.hidden != 1)
    pk = sorted((c.pk, c.name) for c in shape.columns if c.pk)
    key = tuple(name.lower() for _, name in pk) or ("rowid",)
    if shape.rows == 0:  # counted just now: nothing to read
        return Image(shape.name, columns, key, {}, shape)
    by_name = {c.lower(): c for c in columns}
    keys = "rowid" if key == ("rowid",) else ", ".join(_select(by_name[k]) for k in key)
    select = ", ".join(_select(c) for c in columns)
    tagged: list[bool] = []

    def long_cell(value: str | bytes) -> str:
        tagged.append(True)
        return _long_cell_sql(value)

    conn.create_function(LONG_CELL, 1, long_cell, deterministic=True)
    cursor = conn.execute(f"SELECT {keys}, {select} FROM {quote(shape.name)}")
    width = len(key)
    rows: dict[tuple[object, ...], tuple[object, ...]] = {}
    while batch := cursor.fetchmany(BATCH):
        rows.update((row[:width], row[width:]) for row in batch)
    if tagged:  # a long value: its tagged text back into a Long (done once, at the end)
        rows = {tuple(map(_from_sql, k)): tuple(map(_from_sql, v)) for k, v in rows.items()}
    return Image(shape.name, columns, key, rows, shape)


def _is_virtual(shape: TablePrint) -> bool:
    return any(o.type == "table" and o.sql.startswith("create virtual") for o in shape.objects)


class Images:
    """An image of every table of one connection, kept current step by step.

    ```
    images = Images(conn, tracker.now)
    before = images.snapshot()
    with tracker.watch():
        ...
    images.refresh(tracker.now, tracker.changed)
    ```
    """

    def __init__(self, conn: sqlite3.Connection, printed: Fingerprint) -> None:
        self.conn = conn
        self._images: dict[str, Image] = {}
        self.refresh(printed, printed.groups)

    def snapshot(self) -> Mapping[str, Image]:
        """The images now; later refreshes replace entries of the live dict, never these."""
        return dict(self._images)

    def refresh(self, printed: Fingerprint, changed: Iterable[str]) -> None:
        """Read again the tables of `changed` whose fingerprint differs from their image's."""
        for key in changed:
            shape = printed.groups.get(key)
            old = self._images.get(key)
            if shape is None:
                self._images.pop(key, None)
            elif old is None or old.source is not shape or shape.digest is None:
                image = read_image(self.conn, shape)
                if image is None:
                    self._images.pop(key, None)
                else:
                    self._images[key] = image


@dataclass
class ColumnDiff:
    """The cells of one column that differ: counts and the first examples (key, before, after)."""

    changed: int = 0  # a value replaced by another
    nulled: int = 0  # a value turned NULL
    filled: int = 0  # a NULL given a value
    examples: list[tuple[tuple[object, ...], object, object]] = field(default_factory=list)
    nulled_examples: list[tuple[object, ...]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.changed + self.nulled + self.filled


@dataclass
class TableDiff:
    """What differs between two images of one table (on the columns both have)."""

    name: str
    key: tuple[str, ...]
    lost: int = 0
    lost_examples: list[tuple[object, ...]] = field(default_factory=list)
    added: int = 0
    columns: dict[str, ColumnDiff] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # column: why not compared

    @property
    def empty(self) -> bool:
        return not self.lost and not self.added and not self.columns


def diff(
    before: Image,
    after: Image,
    *,
    skip: Mapping[str, str] | None = None,
    renumbered_ok: bool = False,
    strict: bool = False,
) -> TableDiff:
    """What differs from `before` to `after`, keyed by `before`'s key, on their common columns
    (minus `skip`: {lower-case column: why}). `renumbered_ok`: a table keyed by rowid whose rows
    are all still there under other rowids (a rebuild renumbers them) has not changed. `strict`:
    a value stored as another type differs ('5' and 5; otherwise they are the same value)."""
    skip = skip or {}
    result = TableDiff(before.name, before.key)
    old_index = {c.lower(): i for i, c in enumerate(before.columns)}
    new_index = {c.lower(): i for i, c in enumerate(after.columns)}
    common = [c for c in old_index if c in new_index and c not in skip]
    result.left_out = {c: why for c, why in skip.items() if c in old_index and c in new_index}
    rows = _rekeyed(before, after)
    if rows is None:  # no common key: compare the rows as a whole, as many times each
        return _as_multisets(before, after, common, result)
    if renumbered_ok and before.by_rowid:
        if _same_multiset(before, after, common):
            return result
        rows = _renumbered(before, rows)
    pairs = [(old_index[c], new_index[c], before.columns[old_index[c]]) for c in common]
    equal = identical if strict else same
    # whole rows compared in C first; not when strict (5 == 5.0 for a tuple, not for SQLite)
    shortcut = before.columns == after.columns and not strict
    for key, old in before.rows.items():
        new = rows.get(key)
        if new is None:
            result.lost += 1
            if len(result.lost_examples) < EXAMPLES:
                result.lost_examples.append(key)
            continue
        if shortcut and old == new:
            continue
        for old_at, new_at, name in pairs:
            was, now = old[old_at], new[new_at]
            if was is not now and not equal(was, now):
                _count(result.columns.setdefault(name, ColumnDiff()), key, was, now)
    result.added = max(0, len(rows) - (len(before.rows) - result.lost))
    return result


def _count(column: ColumnDiff, key: tuple[object, ...], was: object, now: object) -> None:
    if now is None:
        column.nulled += 1
        if len(column.nulled_examples) < EXAMPLES:
            column.nulled_examples.append(key)
    elif was is None:
        column.filled += 1
    else:
        column.changed += 1
    if len(column.examples) < EXAMPLES:
        column.examples.append((key, was, now))


def _rekeyed(before: Image, after: Image) -> Mapping[tuple[object, ...], tuple[object, ...]] | None:
    """`after`'s rows keyed as `before`'s are; None when `after` lacks a key column."""
    if after.key == before.key:
        return after.rows
    if before.by_rowid:
        return None
    columns = [c.lower() for c in after.columns]
    if not all(k in columns for k in before.key):
        return None
    at = [columns.index(k) for k in before.key]
    return {tuple(cells[i] for i in at): cells for cells in after.rows.values()}


def _renumbered(
    before: Image, rows: Mapping[tuple[object, ...], tuple[object, ...]]
) -> Mapping[tuple[object, ...], tuple[object, ...]]:
    """A rebuild copies rows in rowid order under new rowids (1, 3, 4 -> 1, 2, 3): as many
    rows under other rowids are paired in that order; otherwise they stay keyed by rowid."""
    if len(rows) != len(before.rows) or rows.keys() == before.rows.keys():
        return rows
    pairs = zip(sorted(before.rows), sorted(rows), strict=True)  # rowids: integers
    return {old: rows[new] for old, new in pairs}


def _projected(image: Image, common: list[str]) -> Counter[tuple[object, ...]]:
    columns = [c.lower() for c in image.columns]
    at = [columns.index(c) for c in common]
    return Counter(tuple(cells[i] for i in at) for cells in image.rows.values())


def _same_multiset(before: Image, after: Image, common: list[str]) -> bool:
    return len(before.rows) == len(after.rows) and _projected(before, common) == _projected(
        after, common
    )


def _as_multisets(before: Image, after: Image, common: list[str], result: TableDiff) -> TableDiff:
    old, new = _projected(before, common), _projected(after, common)
    missing = old - new
    result.lost = sum(missing.values())
    result.added = sum((new - old).values())
    return result


def key_text(key: tuple[str, ...], value: tuple[object, ...]) -> str:
    """`id=3`, `rowid=7`, `(a, b)=(1, 'x')`."""
    if len(key) == 1:
        return f"{key[0]}={shown(value[0])}"
    return f"({', '.join(key)})=({', '.join(shown(v) for v in value)})"


def keys_text(key: tuple[str, ...], values: list[tuple[object, ...]], total: int) -> str:
    """`id=3, id=9, id=12, ...` (an ellipsis when there are more than shown)."""
    more = ", ..." if total > len(values) else ""
    return ", ".join(key_text(key, v) for v in values) + more
