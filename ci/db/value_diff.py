"""What differs between two images of a table (ci.db.value_images), per column.

`diff` walks two images side by side in key order (a merge, one batch of each in memory) and
compares them on their common columns: rows lost, rows added, and per column the values changed,
turned NULL or filled in, with counts and up to `EXAMPLES` examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ci.db.value_images import Image, Row, shown

EXAMPLES = 3


def identical(before: object, after: object) -> bool:
    """Equal values of the same storage class (5 and 5.0 differ, as SQLite stores them)."""
    return type(before) is type(after) and before == after


def same(before: object, after: object) -> bool:
    """Equal values: numbers exactly, across integer and real (5 and 5.0); a text never equals a
    number ('00123' and 123 differ: see `converted` for a column whose affinity changed)."""
    return before == after


def converted(before: object, after: object) -> bool:
    """Equal values, or `after` is `before` converted between text and number without losing
    anything and in the number's own spelling, as a column's new type affinity converts it:
    '5' -> 5, 5 -> '5', '2.5' -> 2.5, '9007199254740993' -> 9007199254740993; never
    '00123' -> 123, ' 42 ' -> 42, '7.50' -> 7.5, or '12345678901234567890' -> 1.23...e+19."""
    if before == after:
        return True
    text, number = (before, after) if isinstance(before, str) else (after, before)
    if not isinstance(text, str) or isinstance(number, bool):
        return False
    if isinstance(number, int):
        return text == str(number)
    if isinstance(number, float):
        spellings = (
            repr(number),
            _sqlite_real_text(number),
            str(int(number)) if number.is_integer() else "",
        )
        return text in spellings and float(text) == number
    return False


def _sqlite_real_text(number: float) -> str:
    """A real as SQLite writes it as text (printf '%!.15g': always a decimal point)."""
    text = f"{number:.15g}"
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa and mantissa.lstrip("-").isdigit():
        mantissa += ".0"
    return mantissa + e + exponent


def affinity(declared: str) -> str:
    """A column's type affinity from its declared type, by SQLite's rules (section 3.1 of
    https://sqlite.org/datatype3.html)."""
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in declared or not declared:
        return "BLOB"
    return "REAL" if any(w in declared for w in ("REAL", "FLOA", "DOUB")) else "NUMERIC"


def _affinities(image: Image) -> dict[str, str]:
    """{lower-case column: affinity}; empty when the image's shape is not known."""
    if image.source is None:
        return {}
    return {c.name.lower(): affinity(c.type) for c in image.source.columns}


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
        # a text and a number are the same value only where the column's affinity changed
        old_types, new_types = _affinities(before), _affinities(after)
        retyped = {c for c in common if old_types.get(c, "?") != new_types.get(c, "?")}
        self.pairs = [
            (
                old_index[c],
                new_index[c],
                before.columns[old_index[c]],
                identical if strict else converted if c in retyped else same,
            )
            for c in common
        ]
        # whole rows compared in C first; not when strict (5 == 5.0 for a tuple, not for SQLite)
        self.shortcut = before.columns == after.columns and not strict
        self.result = TableDiff(before.name, before.key)

    def run(self, triples: Iterable[tuple[Row, Row | None, Row | None]]) -> TableDiff:
        result, pairs, shortcut = self.result, self.pairs, self.shortcut
        columns = result.columns
        for key, old, new in triples:
            if old is None:
                result.added += 1
            elif new is None:
                result.lost += 1
                if len(result.lost_examples) < EXAMPLES:
                    result.lost_examples.append(key)
            elif not (shortcut and old == new):
                for old_at, new_at, name, equal in pairs:
                    was, now = old[old_at], new[new_at]
                    if was is now:
                        continue
                    if was is None:  # a NULL filled in (a backfill: every row of one, often)
                        column = columns.get(name) or columns.setdefault(name, ColumnDiff())
                        column.filled += 1
                        if len(column.examples) < EXAMPLES:
                            column.examples.append((key, was, now))
                    elif not equal(was, now):
                        column = columns.get(name) or columns.setdefault(name, ColumnDiff())
                        _count(column, key, was, now)
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
