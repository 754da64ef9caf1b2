"""Value-level images of tables: what `ci.db.value_diff` compares.

An `Image` is one table's rows in primary-key order (rowid when there is none), each row a tuple
of *cells*: a number, NULL, a short text or blob as it is, and a longer one as a `Long` (its length,
its first characters and a hash), so a row costs a bounded amount however large its values are.
The rows are kept as compressed batches of `BATCH` rows (pickled, zlib): no Python object per row
or per value while an image is kept, a few tens of bytes per row. `Images` keeps an image of every
table of one connection current while steps run, reading again only the tables a step changed
(the fingerprint `Tracker` knows which), streamed in batches, and not even those when their
content hash is one it read lately (a rollback brings back the content before a migration).
"""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

from ci.db.fingerprint import Fingerprint, TablePrint

BATCH = 512
RECENT = 3  # images kept per table for content a later step brings back
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
    # the b-tree holding the rows: a rebuild (new table copied, old dropped) changes it, a rename
    # keeps it (0 for a virtual table, None when not known)
    rootpage: int | None = None

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


def read_image(
    conn: sqlite3.Connection,
    shape: TablePrint,
    tags: list[int],
    only: Collection[str] | None = None,
) -> Image | None:
    """The image of one table now; None for a view, or for a table SQLite keeps for a virtual
    table (FTS5's docs_data, ...: internal blobs, the virtual table's own rows are compared).
    `tags`: what `register_long_cell` returned for `conn`. `only`: the (lower-case) columns to
    read, besides the key; all when None."""
    if shape.kind != "table" or not shape.columns:
        return None
    if _is_virtual(shape):
        return _virtual_image(conn, shape, tags)
    kind, rootpage = _table_kind(conn, shape.name)
    if kind == "shadow":
        return None
    columns = tuple(
        c.name for c in shape.columns if c.hidden != 1 and (only is None or c.name.lower() in only)
    )
    pk = sorted((c.pk, c.name) for c in shape.columns if c.pk)
    key = tuple(name.lower() for _, name in pk) or ("rowid",)
    if shape.rows == 0:  # counted just now: nothing to read
        return Image(shape.name, columns, key, source=shape, rootpage=rootpage)
    return _read_rows(conn, shape, columns, key, tags, rootpage)


def _virtual_image(conn: sqlite3.Connection, shape: TablePrint, tags: list[int]) -> Image | None:
    """A virtual table's own rows by rowid (FTS5, R*Tree, ...); None when its module cannot
    list them (it has no rowid, or is not loaded)."""
    columns = tuple(c.name for c in shape.columns if c.hidden == 0)
    if not columns:
        return None
    try:
        return _read_rows(conn, shape, columns, ("rowid",), tags, 0)  # 0: SQLite's for them
    except sqlite3.Error:
        return None


def _table_kind(conn: sqlite3.Connection, name: str) -> tuple[str, int | None]:
    """('table' or 'shadow', its root page) for an ordinary table."""
    found = conn.execute(
        "SELECT rootpage FROM main.sqlite_schema WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    try:
        listed = conn.execute(
            "SELECT type FROM pragma_table_list(?) WHERE schema = 'main'", (name,)
        ).fetchone()
    except sqlite3.OperationalError:  # SQLite before 3.37: no shadow tables told apart
        listed = None
    return (listed[0] if listed else "table"), (found[0] if found else None)


def _read_rows(
    conn: sqlite3.Connection,
    shape: TablePrint,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    tags: list[int],
    rootpage: int | None,
) -> Image:
    by_name = {c.name.lower(): c.name for c in shape.columns}  # the key may not be read
    keys = ["rowid"] if key == ("rowid",) else [quote(by_name[k]) for k in key]
    # BINARY: the order Python compares in (code points, bytes), whatever the column's collation
    order = ", ".join(f"{k} COLLATE BINARY" for k in keys)
    select = ", ".join([*keys, *map(_select, columns)])
    tagged_before = tags[0]  # before execute, which already computes the first row
    cursor = conn.execute(f"SELECT {select} FROM {quote(shape.name)} ORDER BY {order}")
    batches: list[bytes | list[Row]] = []
    count = 0
    while batch := cursor.fetchmany(BATCH):
        count += len(batch)
        if len(batch) == BATCH:
            batches.append(zlib.compress(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL), 1))
        else:  # the last batch: a small table costs no compression
            batches.append(batch)
    tagged = tags[0] != tagged_before
    return Image(shape.name, columns, key, count, tuple(batches), tagged, shape, rootpage)


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
