"""Production statistics: per-table row and page counts of a database, no data, as a small JSON
file (`python -m ci.precheck --db prod.db --export-stats stats.json`) that apply_sample reads
back (`--prod-stats`) to scale what it measures on the sample to production size.

The format (version 1), stable: a reader refuses another `format` or a higher `version`.

```json
{
  "format": "migration-guard-stats",
  "version": 1,
  "exported_at": "2026-12-06T03:00:00Z",
  "schema_version": 4,
  "page_size": 4096,
  "page_count": 25000,
  "freelist_count": 12,
  "pages_from": "dbstat",
  "tables": {"patients": {"rows": 100000, "pages": 2100, "index_pages": 400}}
}
```

`pages_from` is "dbstat" when SQLite has the dbstat virtual table (exact pages per b-tree) and
"estimate" otherwise (the used pages shared out by row count). Rows are always exact
(`count(*)`). Neither the runner's tables nor SQLite's own are listed.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import stat
from pathlib import Path

from ci.core.errors import UsageError
from ci.core.model.sqlfile import special_file_kind
from ci.db.bookkeeping import now_utc
from ci.db.gate_bookkeeping import BOOKKEEPING_TABLES
from ci.db.tables import quoted

FORMAT = "migration-guard-stats"
VERSION = 1
MAX_BYTES = 64 * 2**20  # about 700,000 tables; a stats file is read whole, never streamed
MAX_NESTING = 32  # the format nests 3 deep
MAX_COUNT = 2**63 - 1  # SQLite's own limit on rows and pages: larger cannot be a real count
SHOWN_CHARS = 40


class TableStats:
    """One table's production size."""

    __slots__ = ("index_pages", "pages", "rows")

    def __init__(self, rows: int, pages: int, index_pages: int) -> None:
        self.rows = rows
        self.pages = pages
        self.index_pages = index_pages


class ProdStats:
    """A stats file as read back: where it came from and its tables (names lower-cased)."""

    __slots__ = ("path", "schema_version", "tables")

    def __init__(self, path: Path, schema_version: int | None, tables: dict[str, TableStats]):
        self.path = path
        self.schema_version = schema_version
        self.tables = tables


# --- export ----------------------------------------------------------------------------------


def user_tables(conn: sqlite3.Connection) -> list[str]:
    """The database's own tables (not SQLite's, not the runner's, not virtual ones)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
    ).fetchall()
    return [str(name) for (name,) in rows if str(name).lower() not in BOOKKEEPING_TABLES]


def row_counts(conn: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {quoted(t)}").fetchone()[0]) for t in tables}


def collect(conn: sqlite3.Connection, schema_version: int | None) -> dict[str, object]:
    """The stats document of the database on `conn` (read only: nothing is written there)."""
    pragma = {
        name: int(conn.execute(f"PRAGMA {name}").fetchone()[0])
        for name in ("page_size", "page_count", "freelist_count")
    }
    tables = user_tables(conn)
    rows = row_counts(conn, tables)
    pages = dbstat_pages(conn, tables)
    pages_from = "dbstat"
    if pages is None:
        pages, pages_from = estimated_pages(rows, pragma["page_count"] - pragma["freelist_count"])
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now_utc(),
        "schema_version": schema_version,
        **pragma,
        "pages_from": pages_from,
        "tables": {
            t: {"rows": rows[t], "pages": pages[t][0], "index_pages": pages[t][1]} for t in tables
        },
    }


def dbstat_pages(conn: sqlite3.Connection, tables: list[str]) -> dict[str, tuple[int, int]] | None:
    """(table pages, index pages) per table from dbstat; None when SQLite lacks it."""
    try:
        found = conn.execute(
            "SELECT s.name, m.type, m.tbl_name, count(*) FROM dbstat AS s "
            "JOIN sqlite_master AS m ON m.name = s.name GROUP BY s.name"
        ).fetchall()
    except sqlite3.OperationalError:  # "no such table: dbstat": not compiled in
        return None
    pages = {t.lower(): [0, 0] for t in tables}
    for _name, kind, table, count in found:
        entry = pages.get(str(table).lower())
        if entry is not None:
            entry[0 if kind == "table" else 1] += int(count)
    return {t: (pages[t.lower()][0], pages[t.lower()][1]) for t in tables}


def estimated_pages(
    rows: dict[str, int], used_pages: int
) -> tuple[dict[str, tuple[int, int]], str]:
    """Without dbstat: the used pages shared out by row count (indexes not told apart)."""
    total = sum(rows.values())
    share = {t: (math.ceil(used_pages * n / total) if total else 0, 0) for t, n in rows.items()}
    return share, "estimate"


def dumps(document: dict[str, object]) -> str:
    """The stats file's text: "format" first, which is how an earlier export is recognised
    before it is replaced (ci.checks.precheck.STATS_STARTS)."""
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


# --- read back -------------------------------------------------------------------------------


def load(path: Path) -> ProdStats:
    """A stats file, checked; anything wrong is one UsageError line naming the file."""
    text = _read_text(path)
    too_deep = _nesting_over(text, MAX_NESTING)
    if too_deep is not None:
        raise UsageError(
            f"{path}:{too_deep}: not a stats file: nested more than {MAX_NESTING} deep"
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: not a stats file: {error.msg}") from None
    except RecursionError:  # not reached under MAX_NESTING; kept as one line all the same
        raise UsageError(f"{path}: not a stats file: nested too deep") from None
    except ValueError:  # Python refuses to read an integer of over 4300 digits
        raise UsageError(f"{path}: not a stats file: a number of thousands of digits") from None
    return parsed(path, document)


def _read_text(path: Path) -> str:
    """The file's text, at most MAX_BYTES of it. Refused without being opened when it is not a
    regular file (as a --sample is: reading a FIFO waits forever, /dev/zero never ends), then
    opened without waiting and checked again on the descriptor."""
    try:
        kind = special_file_kind(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: stats file not found") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read the stats file: {error.strerror}") from None
    if kind is not None:
        raise UsageError(f"{path}: the stats file is {kind}, not a regular file")
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise UsageError(f"{path}: the stats file is not a regular file")
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise UsageError(f"{path}: cannot read the stats file: {error.strerror}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path}: not a stats file: larger than {MAX_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: cannot read the stats file: not UTF-8 text") from None


_NESTING_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nesting_over(text: str, limit: int) -> int | None:
    """The line where the JSON text nests deeper than `limit`, or None: checked before parsing,
    as the parser would recurse once per level (and a stats file is 3 levels deep)."""
    depth = 0
    for token in _NESTING_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return text.count("\n", 0, token.start()) + 1
        elif bracket in "]}":
            depth -= 1
    return None


def _shown(value: object) -> str:
    """A value for a one-line message: a hostile file's 4000-digit number is cut short."""
    text = str(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}..."


def parsed(path: Path, document: object) -> ProdStats:
    export = "python -m ci.precheck --db PROD.db --export-stats FILE"
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageError(f"{path}: not a migration-guard stats file (write one with `{export}`)")
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise UsageError(
            f"{path}: stats format version {_shown(version)}; this version reads {VERSION} "
            f"(write it again with `{export}`)"
        )
    schema = document.get("schema_version")
    if schema is not None and not _count(schema):
        raise UsageError(f"{path}: schema_version: expected a number, got {_shown(schema)}")
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise UsageError(f"{path}: tables: expected a mapping of table name to counts")
    return ProdStats(path, schema, {str(k).lower(): _table(path, k, v) for k, v in tables.items()})


def _table(path: Path, name: str, entry: object) -> TableStats:
    if not isinstance(entry, dict) or not _count(entry.get("rows")):
        expected = f'{{"rows": N, ...}} with N from 0 to {MAX_COUNT}'
        raise UsageError(f"{path}: tables.{_shown(name)}: expected {expected}")
    numbers = [entry.get(key, 0) for key in ("rows", "pages", "index_pages")]
    if not all(_count(n) for n in numbers):
        raise UsageError(
            f"{path}: tables.{_shown(name)}: rows and pages must be whole numbers from 0 to "
            f"{MAX_COUNT}"
        )
    return TableStats(*numbers)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT
