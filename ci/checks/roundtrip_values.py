"""The round trip's comparison at value level: a table whose fingerprint says only "content changed
(same row count)" is compared row by row (ci.db.value_diff), naming the columns and up to 3
example rows (key, expected value, value found); columns whose values the migration or its
rollback generate non-deterministically (ci.db.volatile) are left out, and said to be.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from ci.core.model import SqlFile
from ci.db.fingerprint import (
    Fingerprint,
    TablePrint,
    Tracker,
    Wording,
    describe_differences,
    rows,
)
from ci.db.value_diff import ColumnDiff, TableDiff, diff, key_text, keys_text
from ci.db.value_images import Image, Images, shown
from ci.db.volatile import volatile_sources


class Watched:
    """The fingerprint tracker of one connection and the row images that explain a content
    difference, both made on first use and kept current by `watching`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._tracker: Tracker | None = None
        self._images: Images | None = None

    @property
    def tracker(self) -> Tracker:
        if self._tracker is None:
            self._tracker = Tracker(self.conn)
            self._images = Images(self.conn, self._tracker.now)
        return self._tracker

    @property
    def images(self) -> Mapping[str, Image]:
        """The row images now (a copy: later steps do not change it)."""
        assert self._images is not None, "made with the tracker"
        return self._images.snapshot()

    @contextmanager
    def watching(self, *, start: bool = False) -> Iterator[None]:
        """Run a step under the tracker (when there is one; `start`: made now if not), then
        read again the row images of the tables it changed."""
        tracker = self.tracker if start else self._tracker
        if tracker is None:
            yield
            return
        with tracker.watch():
            yield
        assert self._images is not None
        self._images.refresh(tracker.now, tracker.changed)


@dataclass
class Comparison:
    """What differs (one line each) and the columns left out of the comparison, with why."""

    differences: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    # (path, line) of the statement that generates the first of them, when one does
    left_out_at: tuple[str, int] | None = None


def compare(
    expected: Fingerprint,
    found: Fingerprint,
    images: tuple[Mapping[str, Image], Mapping[str, Image]],
    only: Iterable[str],
    wording: Wording,
    files: Iterable[SqlFile],
) -> Comparison:
    """The differences between `expected` and `found` on the groups `only`, the tables whose
    content alone differs explained value by value from their images (expected, found)."""
    only = set(only)
    result = Comparison()
    content_only = {key for key in only if _content_only(expected, found, key)}
    result.differences = describe_differences(
        expected, found, only=only - content_only, wording=wording
    )
    files = list(files)
    for key in sorted(content_only):
        old, new = images[0].get(key), images[1].get(key)
        shape = found.groups[key]
        lines = _values(old, new, shape, files, result) if old and new else None
        if lines is None:  # no image to explain it with: the fingerprint's own words
            lines = describe_differences(expected, found, only=[key], wording=wording)
            lines = [line for line in lines if line not in result.differences]
        result.differences += lines
    return result


def _content_only(expected: Fingerprint, found: Fingerprint, key: str) -> bool:
    old, new = expected.groups.get(key), found.groups.get(key)
    return (
        old is not None
        and new is not None
        and old != new
        and old[:5] == new[:5]
        and old.rows == new.rows
        and old.digest is not None
    )


def _values(
    old: Image, new: Image, shape: TablePrint, files: list[SqlFile], result: Comparison
) -> list[str] | None:
    """The table's value differences (None when the images show none: the fingerprint saw
    something they cannot, let it speak)."""
    change = diff(old, new, strict=True)
    if change.empty:
        return None
    volatile = volatile_sources(shape, files) if change.columns else {}
    # a time or random call never gives NULL: values turned NULL are the rollback's, compared
    volatile = {n: found for n, found in volatile.items() if not _nulled(change, n)}
    kept = {n: c for n, c in change.columns.items() if n.lower() not in volatile}
    for name in change.columns:
        found = volatile.get(name.lower())
        if found is None:
            continue
        result.left_out.append(
            f"column {change.name}.{name} left out of the comparison: {found.why}"
        )
        if result.left_out_at is None and found.path is not None and found.line is not None:
            result.left_out_at = (str(found.path), found.line)
    if not kept and not change.lost:
        return []
    return [_line(change, kept)]


def _nulled(change: TableDiff, name: str) -> bool:
    return any(n.lower() == name and c.nulled for n, c in change.columns.items())


def _line(change: TableDiff, columns: Mapping[str, ColumnDiff]) -> str:
    parts = [
        f"column {name}: {rows(column.total)} ({_examples(change.key, column)})"
        for name, column in columns.items()
    ]
    if change.lost:
        keys = keys_text(change.key, change.lost_examples, change.lost)
        parts.append(f"{rows(change.lost)} replaced by others ({keys} gone)")
    return f"table {change.name}: content changed (same row count): " + "; ".join(parts)


def _examples(key: tuple[str, ...], column: ColumnDiff) -> str:
    shown_examples = ", ".join(
        f"{key_text(key, k)}: {shown(was)} -> {shown(now)}" for k, was, now in column.examples
    )
    return shown_examples + (", ..." if column.total > len(column.examples) else "")
