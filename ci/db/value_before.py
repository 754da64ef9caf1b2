"""The values one step overwrote, read after it: the database as it was before the step is a copy
(SQLite's backup API, page by page in C), and row images (ci.db.value_images) are read from that
copy and from the database after the step only for the tables the step wrote, on the columns it
wrote (the fingerprint Tracker's `columns_written`: a table only UPDATEd on the columns the
statements, their triggers and their foreign-key actions name; every column of a table with rows
inserted or deleted, or created, dropped or altered).

Copying pages costs far less than keeping an image of every value of every table in Python, and
what is read afterwards is known exactly, where a guess before the step (compiling its statements
on a schema its own earlier statements change) could miss a table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ci.core.scratch_dir import scratch_directory
from ci.db.backup import copy_to
from ci.db.connection import connect
from ci.db.fingerprint import Fingerprint, TablePrint
from ci.db.value_images import Image, read_image, register_long_cell

GENERATED = (2, 3)  # PRAGMA table_xinfo's `hidden` for a virtual or stored generated column


class Reader:
    """One connection's images on demand (LONG_CELL registered once, at first use)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._tags: list[int] | None = None

    def image(self, shape: TablePrint, columns: frozenset[str] | None) -> Image | None:
        if self._tags is None:
            self._tags = register_long_cell(self.conn)
        return read_image(self.conn, shape, self._tags, columns)


@contextmanager
def copy_before(conn: sqlite3.Connection, setup: str | None) -> Iterator[Reader]:
    """A read-only copy of `conn`'s database as it is now, for the block (then deleted); opened
    with the --setup function, whose functions a generated column may call."""
    with scratch_directory("migration-guard-before-") as tmp:
        path = Path(tmp) / "before.db"
        copy_to(conn, path)  # a throwaway file: no journal, no fsync
        copy = connect(path, setup=setup, readonly=True, gated=False)
        try:
            yield Reader(copy)
        finally:
            copy.close()


def compared_columns(shape: TablePrint, written: frozenset[str] | None) -> frozenset[str] | None:
    """The columns to read of a table a step wrote (None: all). A generated column follows the
    columns it is computed from without the authorizer naming it: all of them then."""
    if written is None or any(c.hidden in GENERATED for c in shape.columns):
        return None
    return written


def written_images(
    reader: Reader,
    printed: Fingerprint,
    changed: Iterable[str],
    written: Mapping[str, frozenset[str] | None],
) -> dict[str, Image]:
    """The images, as `printed` shows the tables, of the groups of `changed` whose rows the step
    wrote, on the columns it wrote."""
    images: dict[str, Image] = {}
    for key in changed:
        columns = written.get(key)
        shape = printed.groups.get(key)
        if columns == frozenset() or shape is None:
            continue
        image = reader.image(shape, compared_columns(shape, columns))
        if image is not None:
            images[key] = image
    return images
