"""Value-level images of tables and what differs between two of them, per column.

An `Image` is one table's rows in primary-key order (rowid when there is none), each row a tuple
of *cells*: a number, NULL, a short text or blob as it is, and a longer one as a `Long` (its length,
its first characters and a hash), so a row costs a bounded amount however large its values are.
The rows are kept as compressed batches of `BATCH` rows (pickled, zlib): no Python object per row
or per value while an image is kept, a few tens of bytes per row. `Images` keeps an image of every
table of one connection current while steps run, reading again only the tables a step changed
(the fingerprint `Tracker` knows which), streamed in batches. `diff` walks two images side by side
in key order (a merge, one batch of each in memory) and compares them on their common columns:
rows lost, rows added, and per column the values changed, turned NULL or filled in, with counts
and up to `EXAMPLES` examples.
"""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from ci.db.fingerprint import Fingerprint, TablePrint

BATCH = 512
RECENT = 3  # images kept per table for content a later step brings back
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


Row = tuple[object, ...]


@dataclass(frozen=True)
class Image:
    """One table's rows in key order, as compressed batches; its columns, in cell order, and
    what the key is."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # primary key columns (lower case), or ("rowid",)
    count: int = 0
    # full batches as zlib(pickle([key values + cells, ...])); the last, short one as it is
    batches: tuple[bytes | list[Row], ...] = ()
    tagged: bool = False  # some cells are LONG_CELL tags, turned into `Long`s when read
    source: TablePrint | None = None  # the fingerprint it was read for (reused when unchanged)

    @property
    def by_rowid(self) -> bool:
        return self.key == ("rowid",)

    def items(self) -> Iterator[tuple[Row, Row]]:
        """(key, cells) for each row, in key order, one batch in memory at a time."""
        width = len(self.key)
        for batch in self.batches:
            rows = pickle.loads(zlib.decompress(batch)) if isinstance(batch, bytes) else batch
            if self.tagged:
                rows = [tuple(map(_from_sql, row)) for row in rows]
            for row in rows:
                yield row[:width], row[width:]


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


def read_image(conn: sqlite3.Connection, shape: TablePrint, tags: list[int]) -> Image | None:
    """The image of one table now; None for a view or a virtual table. `tags`: what
    `register_long_cell` returned for `conn`."""
    if shape.kind != "table" or not shape.columns or _is_virtual(shape):
        return None
    columns = tuple(c.name for c in shape.columns if c.hidden != 1)
    pk = sorted((c.pk, c.name) for c in shape.columns if c.pk)
    key = tuple(name.lower() for _, name in pk) or ("rowid",)
    if shape.rows == 0:  # counted just now: nothing to read
        return Image(shape.name, columns, key, source=shape)
    by_name = {c.lower(): c for c in columns}
    keys = ["rowid"] if key == ("rowid",) else [quote(by_name[k]) for k in key]
    # BINARY: the order Python compares in (code points, bytes), whatever the column's collation
    order = ", ".join(f"{k} COLLATE BINARY" for k in keys)
    select = ", ".join(_select(c) for c in columns)
    tagged_before = tags[0]  # before execute, which already computes the first row
    cursor = conn.execute(
        f"SELECT {', '.join(keys)}, {select} FROM {quote(shape.name)} ORDER BY {order}"
    )
    batches: list[bytes | list[Row]] = []
    count = 0
    while batch := cursor.fetchmany(BATCH):
        count += len(batch)
        if len(batch) == BATCH:
            batches.append(zlib.compress(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL), 1))
        else:  # the last batch: a small table costs no compression
            batches.append(batch)
    tagged = tags[0] != tagged_before
    return Image(shape.name, columns, key, count, tuple(batches), tagged, shape)


def register_long_cell(conn: sqlite3.Connection) -> list[int]:
    """Register LONG_CELL(value), the tag of a long value, on `conn`: once, as registering a
    function expires the connection's prepared statements. Returns its count of calls."""
    tags = [0]

    def long_cell(value: str | bytes) -> str:
        tags[0] += 1
        return _long_cell_sql(value)

    conn.create_function(LONG_CELL, 1, long_cell, deterministic=True)
    return tags


def _is_virtual(shape: TablePrint) -> bool:
    return any(o.type == "table" and o.sql.startswith("create virtual") for o in shape.objects)


def _same_content(old: TablePrint, new: TablePrint) -> bool:
    return (old.name, old.columns, old.rows, old.digest) == (
        new.name,
        new.columns,
        new.rows,
        new.digest,
    )


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
        # the images a table had lately, by content: a rollback brings back the content before
        # the migration, re-applying the content after it; neither is read again
        self._recent: dict[str, list[Image]] = {}
        self._tags = register_long_cell(conn)
        self.refresh(printed, printed.groups)

    def snapshot(self) -> Mapping[str, Image]:
        """The images now; later refreshes replace entries of the live dict, never these."""
        return dict(self._images)

    def refresh(self, printed: Fingerprint, changed: Iterable[str]) -> None:
        """Read again the tables of `changed` whose content differs from their image's."""
        for key in changed:
            shape = printed.groups.get(key)
            if shape is None:
                self._images.pop(key, None)
                continue
            image = self._known(key, shape) or read_image(self.conn, shape, self._tags)
            if image is None:
                self._images.pop(key, None)
                continue
            self._images[key] = image
            if shape.digest is not None:
                recent = self._recent.setdefault(key, [])
                recent[:] = [image, *(i for i in recent if i is not image)][:RECENT]

    def _known(self, key: str, shape: TablePrint) -> Image | None:
        """An image of this very content (same hash, rows and columns), if one was read lately."""
        if shape.digest is None:  # row counts only: the content cannot be told apart
            return None
        for image in self._recent.get(key, ()):
            source = image.source
            if source is not None and _same_content(source, shape):
                return image if source is shape else replace(image, source=shape)
        return None


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
    (minus `skip`: {lower-case column: why}). `renumbered_ok`: rows of a table keyed by rowid
    that are as many but under other rowids (a rebuild renumbers 1, 3, 4 -> 1, 2, 3) are paired
    in rowid order. `strict`: a value stored as another type differs ('5' and 5, 5 and 5.0;
    otherwise they are the same value)."""
    skip = skip or {}
    old_index = {c.lower(): i for i, c in enumerate(before.columns)}
    new_index = {c.lower(): i for i, c in enumerate(after.columns)}
    common = [c for c in old_index if c in new_index and c not in skip]
    compare = _Compare(before, after, common, strict)
    compare.result.left_out = {c: why for c, why in skip.items() if c in old_index}
    if after.key != before.key:
        pairs = _rekeyed(before, after)
        if pairs is None:  # no common key: compare the rows as a whole, as many times each
            return _as_multisets(before, after, common, compare.result)
        return compare.run(pairs)
    result = compare.run(_merge(before.items(), after.items()))
    if renumbered_ok and before.by_rowid and result.lost and before.count == after.count:
        in_order = _Compare(before, after, common, strict)
        in_order.result.left_out = result.left_out
        zipped = zip(before.items(), after.items(), strict=True)
        return in_order.run((old[0], old[1], new[1]) for old, new in zipped)
    return result


class _Compare:
    """Counts the differences of (key, before cells, after cells) triples into a TableDiff."""

    def __init__(self, before: Image, after: Image, common: list[str], strict: bool) -> None:
        old_index = {c.lower(): i for i, c in enumerate(before.columns)}
        new_index = {c.lower(): i for i, c in enumerate(after.columns)}
        self.pairs = [(old_index[c], new_index[c], before.columns[old_index[c]]) for c in common]
        self.equal = identical if strict else same
        # whole rows compared in C first; not when strict (5 == 5.0 for a tuple, not for SQLite)
        self.shortcut = before.columns == after.columns and not strict
        self.result = TableDiff(before.name, before.key)

    def run(self, triples: Iterable[tuple[Row, Row | None, Row | None]]) -> TableDiff:
        result, pairs, equal, shortcut = self.result, self.pairs, self.equal, self.shortcut
        for key, old, new in triples:
            if old is None:
                result.added += 1
            elif new is None:
                result.lost += 1
                if len(result.lost_examples) < EXAMPLES:
                    result.lost_examples.append(key)
            elif not (shortcut and old == new):
                for old_at, new_at, name in pairs:
                    was, now = old[old_at], new[new_at]
                    if was is not now and not equal(was, now):
                        _count(result.columns.setdefault(name, ColumnDiff()), key, was, now)
        return result


def _rank(value: object) -> tuple[int, object]:
    """SQLite's order across storage classes: NULL, numbers, text, blob."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, value) if isinstance(value, str) else (3, value)


def _order(key: Row) -> tuple[tuple[int, object], ...]:
    return tuple(map(_rank, key))


def _merge(
    old: Iterator[tuple[Row, Row]], new: Iterator[tuple[Row, Row]]
) -> Iterator[tuple[Row, Row | None, Row | None]]:
    """(key, before cells or None, after cells or None), walking both in key order."""
    a, b = next(old, None), next(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] != b[0] and _order(a[0]) < _order(b[0])):
            assert a is not None
            yield a[0], a[1], None
            a = next(old, None)
        elif a is None or a[0] != b[0]:
            yield b[0], None, b[1]
            b = next(new, None)
        else:
            yield a[0], a[1], b[1]
            a, b = next(old, None), next(new, None)


def _count(column: ColumnDiff, key: Row, was: object, now: object) -> None:
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


def _rekeyed(before: Image, after: Image) -> list[tuple[Row, Row | None, Row | None]] | None:
    """`after`'s rows matched to `before`'s by `before`'s key columns (a rebuild that changed
    the primary key: rare, so done in memory); None when `after` lacks a key column."""
    columns = [c.lower() for c in after.columns]
    if before.by_rowid or not all(k in columns for k in before.key):
        return None
    at = [columns.index(k) for k in before.key]
    rows = {tuple(cells[i] for i in at): cells for _, cells in after.items()}
    triples: list[tuple[Row, Row | None, Row | None]] = [
        (key, cells, rows.pop(key, None)) for key, cells in before.items()
    ]
    return triples + [(key, None, cells) for key, cells in rows.items()]


def _projected(image: Image, common: list[str]) -> Counter[Row]:
    columns = [c.lower() for c in image.columns]
    at = [columns.index(c) for c in common]
    return Counter(tuple(cells[i] for i in at) for _, cells in image.items())


def _as_multisets(before: Image, after: Image, common: list[str], result: TableDiff) -> TableDiff:
    old, new = _projected(before, common), _projected(after, common)
    result.lost = sum((old - new).values())
    result.added = sum((new - old).values())
    return result


def key_text(key: tuple[str, ...], value: Row) -> str:
    """`id=3`, `rowid=7`, `(a, b)=(1, 'x')`."""
    if len(key) == 1:
        return f"{key[0]}={shown(value[0])}"
    return f"({', '.join(key)})=({', '.join(shown(v) for v in value)})"


def keys_text(key: tuple[str, ...], values: list[Row], total: int) -> str:
    """`id=3, id=9, id=12, ...` (an ellipsis when there are more than shown)."""
    more = ", ..." if total > len(values) else ""
    return ", ".join(key_text(key, v) for v in values) + more
