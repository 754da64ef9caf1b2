"""Value-level images of a PostgreSQL database's tables, for apply_sample: the same `Image` records
as SQLite's (ci.db.value_images), so ci.db.value_diff compares them and ci.checks.sample_values
words the findings alike whatever the engine.

A row is its primary key and one cell per column: integers, floats and booleans as the driver
reads them, every other value as the server prints it (`::text`, under the fingerprint's fixed
settings), a text longer than `SHORT` characters as its length, first characters and its md5,
all computed by the server; a numeric's without the zeros its scale pads it with (a wider scale
prints the same value longer). A table without a primary key is keyed by all its columns: its
rows are compared whole, as many times each (an UPDATE there is a row lost and a row added).

Which tables to read again after a migration is decided from the catalog and the statistics
counters, not from the rows: a table is read again when it is new, gone, renamed, has other
columns, a new storage file (TRUNCATE, a rewriting ALTER TABLE) or any row inserted, updated or
deleted since (`pg_stat_get_tuples_*` plus the `_xact_` counts this session has not flushed yet,
so the sum is exact whenever the statistics are flushed), or a user type its columns' values are
read through changed (an enum label renamed: ci.db.postgres.value_types). Unchanged tables cost
one catalog row each, never a scan. With `track_counts` off, or on a server older than
PostgreSQL 15, every table is read again.
"""

from __future__ import annotations

import pickle
import re
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple

from ci.db.fingerprint_records import TablePrint
from ci.db.postgres.value_types import TypeGraph
from ci.db.table_records import Column
from ci.db.tables import LOG_TABLE, TABLE
from ci.db.value_diff import _order
from ci.db.value_images import BATCH, SHORT, Image, Long, Row

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import psycopg

# read as they are: the driver's int, float and bool compare and show as SQLite's numbers do
NATIVE = {"smallint", "integer", "bigint", "real", "double precision", "boolean"}
INTEGERS = {"smallint", "integer", "bigint"}
INTEGER = re.compile(r"-?\d+")
DECIMAL = re.compile(r"-?\d+\.\d+")
FETCH = 32 * BATCH  # rows per round trip (a few MB at most)

TABLES = """
SELECT n.nspname, c.relname, c.oid, c.relfilenode,
  pg_stat_get_tuples_inserted(c.oid) + pg_stat_get_tuples_updated(c.oid)
  + pg_stat_get_tuples_deleted(c.oid) + pg_stat_get_xact_tuples_inserted(c.oid)
  + pg_stat_get_xact_tuples_updated(c.oid) + pg_stat_get_xact_tuples_deleted(c.oid),
  coalesce(cols.names, '{}'), coalesce(cols.types, '{}'), coalesce(cols.oids, '{}'),
  ARRAY(SELECT a.attname
        FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, at)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.at)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (  -- the columns in one pass: names, types, type oids
  SELECT array_agg(a.attname ORDER BY a.attnum) AS names,
    array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) AS types,
    array_agg(a.atttypid::int8 ORDER BY a.attnum) AS oids
  FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) cols
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND NOT (n.nspname = current_schema() AND c.relname IN (%s, %s))
"""


# whether the counters add up exactly: they are kept (track_counts), and in shared memory, where
# this session's own flush is visible at once (PostgreSQL 15; before, a statistics collector
# process received them later, and a change could hide behind a flush not yet received)
EXACT_COUNTS = (
    "SELECT current_setting('track_counts')::bool"
    " AND current_setting('server_version_num')::int >= 150000"
)


class Table(NamedTuple):
    """One table as the catalog and the statistics describe it."""

    schema: str
    name: str
    oid: int
    filenode: int
    writes: int  # rows inserted, updated and deleted so far
    columns: tuple[str, ...]
    types: tuple[str, ...]
    key: tuple[str, ...]  # the primary key's columns; empty when it has none
    numerics: frozenset[str]  # the columns of type numeric, or of a domain over it
    numeric_arrays: frozenset[str]  # the columns of arrays of numeric (or of domains over it)
    reads_through: tuple[object, ...]  # the user types its columns' values are read through

    @property
    def label(self) -> str:
        """How findings name it (and the images are keyed): schema-qualified outside public."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    @property
    def signature(self) -> tuple[object, ...]:
        return (self.oid, self.filenode, self.writes, self.columns, self.types, self.reads_through)


def read_tables(cursor: psycopg.Cursor[Any]) -> dict[str, Table]:
    """{label: Table} for every ordinary table but the runner's own."""
    rows = cursor.execute(TABLES, (TABLE, LOG_TABLE)).fetchall()
    graph = TypeGraph(cursor, {typ for row in rows for typ in row[7]})
    found = {}
    for schema, name, oid, filenode, writes, columns, types, oids, key in rows:
        kinds = {column: graph.numeric(typ) for column, typ in zip(columns, oids, strict=True)}
        numerics = frozenset(column for column, kind in kinds.items() if kind == "number")
        arrays = frozenset(column for column, kind in kinds.items() if kind == "array")
        table = Table(
            schema, name, oid, filenode, writes, tuple(columns), tuple(types), tuple(key),
            numerics, arrays, graph.state(tuple(oids)),
        )  # fmt: skip
        found[table.label] = table
    return found


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Cell(NamedTuple):
    """How one column is read: `raw` in the row, and when `fix` holds the cell is instead its
    `fixed` text (a long text's length:md5 prefix, or a NaN)."""

    raw: str
    fix: str | None = None
    fixed: str | None = None


def _text(column: str, scale: str) -> str:
    """A value's text; a numeric's (`scale` "number") or each element of an array of numerics'
    ("array") without the zeros its scale pads it with ('2.00' -> '2'): widening `numeric` to
    `numeric(12,2)` keeps every value but prints it longer, while a real rounding (2.5 -> 3
    under `numeric(12,0)`) still reads else."""
    text = f"{quote(column)}::text"
    if scale == "number":
        return (
            f"CASE WHEN strpos({text}, '.') > 0 THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END"
        )
    if scale == "array":  # '{2.00,3.50}': each element ends at a ',' or a '}'
        trimmed = rf"regexp_replace({text}, '(\.[0-9]*[1-9])0+([,}}])', '\1\2', 'g')"
        return rf"regexp_replace({trimmed}, '\.0+([,}}])', '\1', 'g')"
    return text


def _scale(table: Table, column: str) -> str:
    """Whether a column's text is a numeric's ("number"), an array of them ("array") or else."""
    if column in table.numerics:
        return "number"
    return "array" if column in table.numeric_arrays else ""


def _cell(column: str, type_: str, scale: str = "") -> Cell:
    c = quote(column)
    if type_ in ("real", "double precision"):  # NaN never equals itself: compared as text
        return Cell(c, f"{c} = 'NaN'", "'NaN'")
    if type_ in NATIVE:
        return Cell(c)
    text = _text(column, scale)
    long = f"octet_length({text}) > {SHORT}"
    return Cell(
        f"CASE WHEN {long} THEN NULL ELSE {text} END",
        long,
        f"length({text}) || ':' || md5({text}) || left({text}, {SHORT})",
    )


def _fixes_sql(cells: list[Cell]) -> str:
    """One more column: NULL for a row that needs no fix (most rows: read as they are), else
    the fixed text of each column that needs one."""
    fixing = [cell for cell in cells if cell.fix]
    if not fixing:
        return "NULL::text[]"
    each = ", ".join(f"CASE WHEN {cell.fix} THEN {cell.fixed} END" for cell in fixing)
    return f"CASE WHEN {' OR '.join(f'({cell.fix})' for cell in fixing)} THEN ARRAY[{each}] END"


def _long(text: str) -> object:
    """A long value's `length:md5 prefix` as a `Long` (its md5's first half as the digest)."""
    if text == "NaN":
        return text
    length, rest = text.split(":", 1)
    return Long(int(length), rest[32:], bytes.fromhex(rest[:16]))


def _number(cell: object) -> object:
    """A numeric's text as the number Python shows alike (37.5, 12), or the text when no int or
    float spells it exactly ('37.50', 'NaN')."""
    if isinstance(cell, str):
        if INTEGER.fullmatch(cell):
            return int(cell)
        if DECIMAL.fullmatch(cell) and repr(float(cell)) == cell:
            return float(cell)
    return cell


class Reader:
    """Turns the rows the server sends (cells, then the fixes column) into an image's rows."""

    def __init__(self, cells: list[Cell], numerics: list[int]) -> None:
        self.fixed_at = [at for at, cell in enumerate(cells) if cell.fix]
        self.numerics = numerics

    def rows(self, sent: list[Row]) -> list[Row]:
        if not self.numerics:
            return [row[:-1] if row[-1] is None else self._fixed(row) for row in sent]
        return [self._fixed(row) for row in sent]

    def _fixed(self, row: Row) -> Row:
        cells = list(row[:-1])
        fixes = row[-1]
        if isinstance(fixes, list):
            for at, text in zip(self.fixed_at, fixes, strict=True):
                if text is not None:
                    cells[at] = _long(text)
        for at in self.numerics:
            cells[at] = _number(cells[at])
        return tuple(cells)


def read_image(conn: psycopg.Connection[Any], table: Table) -> Image:
    """The table's rows now in key order, in compressed batches of `BATCH` rows."""
    from psycopg.rows import tuple_row

    keyless = not table.key
    key = table.columns if keyless else table.key
    types = dict(zip(table.columns, table.types, strict=True))
    columns = () if keyless else table.columns
    read = list(key) if keyless else list(columns)  # the columns read as cells
    cells = [Cell(_key_sql(k, types[k], _scale(table, k))) for k in ([] if keyless else key)]
    cells += [_cell(c, types[c], _scale(table, c)) for c in read]
    numerics = [at for at, c in enumerate(read, len(cells) - len(read)) if c in table.numerics]
    reader = Reader(cells, numerics)
    select = ", ".join([cell.raw for cell in cells] + [_fixes_sql(cells)])
    query = f"SELECT {select} FROM ONLY {quote(table.schema)}.{quote(table.name)}"
    if not keyless:  # the order value_diff walks in: numbers, then texts by code point
        query += " ORDER BY " + ", ".join(_key_order(k, types[k], _scale(table, k)) for k in key)
    kept: list[bytes | list[Row]] = []
    count = 0
    # binary: integers and floats arrive as numbers, not as digits to parse
    with conn.cursor(name="mg_values", row_factory=tuple_row, binary=True) as cursor:
        cursor.execute(query)
        for batch in _batches(cursor, reader, keyless):
            count += len(batch)
            full = len(batch) == BATCH  # the last, short one kept as it is
            kept.append(zlib.compress(pickle.dumps(batch, 5), 1) if full else batch)
    shape = TablePrint(table.label, (), tuple(_column(c, types[c], c in key) for c in columns))
    lowered = tuple(k.lower() for k in key)
    return Image(table.label, columns, lowered, count, tuple(kept), False, shape, table.oid)


def _batches(
    cursor: psycopg.ServerCursor[Any], reader: Reader, keyless: bool
) -> Iterator[list[Row]]:
    """The rows in batches of `BATCH`, fetched `FETCH` at a time (one round trip each)."""
    if keyless:  # sorted here: the server cannot sort a long text as its cell compares
        rows = sorted(reader.rows(cursor.fetchall()), key=_order)
        yield from (rows[at : at + BATCH] for at in range(0, len(rows), BATCH))
        return
    while sent := cursor.fetchmany(FETCH):
        rows = reader.rows(sent)
        yield from (rows[at : at + BATCH] for at in range(0, len(rows), BATCH))


def _key_sql(column: str, type_: str, scale: str) -> str:
    """A primary key column whole (never shortened: keys pair the rows): integers as they
    are, anything else as its text."""
    return quote(column) if type_ in INTEGERS else _text(column, scale)


def _key_order(column: str, type_: str, scale: str) -> str:
    """A key column's order: its own for integers, its text's by code point otherwise (the
    keys of the rows a check compares are read the same way before and after)."""
    if type_ in INTEGERS:
        return quote(column)
    return f'({_text(column, scale)}) COLLATE "C"'


def _column(name: str, type_: str, pk: bool) -> Column:
    """A column as value_diff reads its type (for the affinity rules of a retyped column)."""
    return Column(name, type_, 0, None, int(pk), 0)


class PgImages:
    """An image of every table of one connection, kept current migration by migration.

    ```
    images = PgImages(conn)
    before = images.snapshot()
    ...  # a migration
    changed = images.refresh()
    ```
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._tables: dict[str, Table] = {}
        self._images: dict[str, Image] = {}
        self.reads = 0  # tables read so far (the cost a test or a benchmark looks at)
        self.refresh()

    def snapshot(self) -> Mapping[str, Image]:
        return dict(self._images)

    def refresh(self) -> list[str]:
        """Read again the tables that changed since the last refresh; their labels, sorted."""
        from ci.db.postgres.fingerprint import SETTINGS

        with self.conn.transaction(), self.conn.cursor() as cursor:
            calls = ", ".join(["set_config(%s, %s, true)"] * len(SETTINGS))
            cursor.execute(f"SELECT {calls}", [v for item in SETTINGS.items() for v in item])
            exact = cursor.execute(EXACT_COUNTS).fetchone()
            tables = read_tables(cursor)
            changed = sorted(
                label
                for label in {*tables, *self._tables}
                if not (exact and exact[0])
                or _signature(self._tables.get(label)) != _signature(tables.get(label))
            )
            for label in changed:
                if label in tables:
                    self._images[label] = read_image(self.conn, tables[label])
                    self.reads += 1
                else:
                    self._images.pop(label, None)
        self._tables = tables
        return changed


def _signature(table: Table | None) -> tuple[object, ...] | None:
    return None if table is None else table.signature
