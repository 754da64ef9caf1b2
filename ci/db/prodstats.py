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
import sqlite3
import tempfile
from pathlib import Path

from ci.core.errors import UsageError
from ci.db.bookkeeping import now_utc
from ci.db.gate_bookkeeping import BOOKKEEPING_TABLES
from ci.db.tables import quoted

FORMAT = "migration-guard-stats"
VERSION = 1


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


def write(document: dict[str, object], path: Path) -> None:
    """Write the stats file whole or not at all (a temporary file renamed over it)."""
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as error:
        raise UsageError(f"{path}: cannot write the stats file: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write the stats file: {error.strerror}") from None


# --- read back -------------------------------------------------------------------------------


def load(path: Path) -> ProdStats:
    """A stats file, checked; anything wrong is one UsageError line naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: stats file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise UsageError(f"{path}: cannot read the stats file: {why}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: not a stats file: {error.msg}") from None
    return parsed(path, document)


def parsed(path: Path, document: object) -> ProdStats:
    export = "python -m ci.precheck --db PROD.db --export-stats FILE"
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageError(f"{path}: not a migration-guard stats file (write one with `{export}`)")
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise UsageError(
            f"{path}: stats format version {version!r}; this version reads {VERSION} "
            f"(write it again with `{export}`)"
        )
    schema = document.get("schema_version")
    if schema is not None and not _count(schema):
        raise UsageError(f"{path}: schema_version: expected a number, got {schema!r}")
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise UsageError(f"{path}: tables: expected a mapping of table name to counts")
    return ProdStats(path, schema, {str(k).lower(): _table(path, k, v) for k, v in tables.items()})


def _table(path: Path, name: str, entry: object) -> TableStats:
    if not isinstance(entry, dict) or not _count(entry.get("rows")):
        raise UsageError(f'{path}: tables.{name}: expected {{"rows": N, ...}} with N >= 0')
    numbers = [entry.get(key, 0) for key in ("rows", "pages", "index_pages")]
    if not all(_count(n) for n in numbers):
        raise UsageError(f"{path}: tables.{name}: rows and pages must be whole numbers >= 0")
    return TableStats(*numbers)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
