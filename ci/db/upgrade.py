"""Upgrading an older `schema_version` table (the seed document's `version INTEGER PRIMARY KEY`,
no hash; other tools' tables) to the runner's shape, in place (ci.db.prepare decides when; the
SQL of the rebuild is ci.db.tabledef's).

SQLite cannot drop a primary key or add a table constraint with ALTER TABLE, so the table is
rebuilt: create the new table, copy every row, drop the old one, rename the new one. A rebuild
loses whatever the old table carried unless it is carried over on purpose, so:

- every column keeps its own definition, word for word from the old CREATE TABLE (type, NOT NULL,
  DEFAULT, CHECK, COLLATE, GENERATED, REFERENCES), and so does every table constraint and table
  option; the runner's columns the old table lacks are added after them;
- the one thing dropped on purpose is the uniqueness of `version` alone (its PRIMARY KEY or
  UNIQUE): seeds have their own numbering, so `seed/0001` and `schema/0001` must coexist; the
  identity index on (track, version) replaces it. A `version` declared other than as an integer
  becomes `INTEGER NOT NULL` (its '0001' values become 1: the runner finds rows by number);
- every index and trigger on the table, every view, and every trigger elsewhere that names the
  table or a view is saved, dropped before the rebuild and created again after it, word for word
  (a view that reads the old table would otherwise make the rename fail);
- what cannot be carried over (a foreign key from another table into this one, WITHOUT ROWID
  keyed on `version`), and a NOT NULL column without a DEFAULT that the runner could never fill
  in the rows it records, refuses the upgrade before anything changes, with one line listing it
  (a foreign key FROM the table to another is refused earlier, by ci.db.prepare);
- so does a trigger on the table that could block or change the runner's rows (any BEFORE
  trigger, an AFTER trigger that names the table); an AFTER trigger writing elsewhere is kept;
- after the rebuild a row is written and removed exactly as the runner will (then undone): a
  kept definition that rejects it (a CHECK, a type, a NOT NULL) refuses the upgrade, which is
  rolled back whole, instead of letting every later run fail.

It all runs inside the caller's transaction: the upgrade happens whole or not at all.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping

from ci.db import bookkeeping
from ci.db.tabledef import (
    NAME,
    NEW,
    TABLE_CONSTRAINT,
    VERSION_KEY_CONSTRAINT,
    OldTable,
    code_of,
    copy_sql,
    new_table_sql,
)
from ci.db.tables import CREATE_INDEX, IDENTITY_INDEX, MAIN_TABLE, TABLE, UpgradeRefused, quoted

_TRIGGER_TIMING = re.compile(
    rf"CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"{NAME}(?:\s*\.\s*{NAME})?\s+(?P<timing>BEFORE|AFTER|INSTEAD\s+OF)?",
    re.IGNORECASE,
)


def upgrade(conn: sqlite3.Connection, kinds: Mapping[int, str]) -> None:
    """Rebuild `schema_version` in the runner's shape, keeping everything else it had."""
    old = OldTable(conn)
    refuse_losses(conn, old)
    dependents = _dependents(conn)
    for kind, name, _sql, on_table in dependents:
        if not on_table:  # the table's own indexes and triggers go with it
            conn.execute(f"DROP {kind.upper()} {quoted(name)}")
    conn.execute(new_table_sql(old))
    conn.execute(copy_sql(old, kinds))
    conn.execute(f"DROP TABLE {MAIN_TABLE}")
    conn.execute(f"ALTER TABLE main.{NEW} RENAME TO {TABLE}")
    for _kind, _name, sql, _on_table in dependents:
        conn.execute(sql)
    conn.execute(CREATE_INDEX)
    _check_columns_kept(conn, old)
    _probe_runner_rows(conn, old)


def refuse_losses(conn: sqlite3.Connection, old: OldTable) -> None:
    """UpgradeRefused listing everything the rebuild could not keep (before any change)."""
    losses = [
        f"table {child} refers to {TABLE} ({', '.join(columns)}) by a foreign key"
        for child, columns in _foreign_keys_into(conn)
    ]
    losses += [
        f"column {name} is NOT NULL with no DEFAULT, so the runner could not record a "
        "migration (give it a DEFAULT or allow NULL)"
        for name in old.unfillable_columns()
    ]
    keyed_on_version = any(c[0].lower() == "version" and c[4] for c in old.info)
    if keyed_on_version and re.search(r"\bWITHOUT\s+ROWID\b", old.options, re.IGNORECASE):
        losses.append(
            "WITHOUT ROWID (it needs the primary key on version that the upgrade replaces)"
        )
    losses += [
        f"{_kept_name(part)} says ON CONFLICT {clause.upper()}, which would silently "
        f"{'drop' if clause.upper() == 'IGNORE' else 'delete an older'} row the runner writes "
        "(remove that clause)"
        for part, clause in _silent_conflict_clauses(old)
    ]
    losses += [
        f"trigger {name} on {TABLE} could block or change the rows the runner writes (drop "
        "it, or make it an AFTER trigger that writes only elsewhere)"
        for name in _triggers_that_could_touch_runner_rows(conn)
    ]
    if losses:
        raise UpgradeRefused("; ".join(losses))


def _silent_conflict_clauses(old: OldTable) -> Iterator[tuple[str, str]]:
    """Kept definitions with ON CONFLICT IGNORE or REPLACE: a row the runner writes would be
    dropped, or would delete another migration's row (which then applies again). The key on
    `version` is not kept, so its clause does not count."""
    parts = [
        p for p, c in zip(old.column_parts, old.info, strict=True) if c[0].lower() != "version"
    ]
    for part in parts + old.constraint_parts:
        if VERSION_KEY_CONSTRAINT.match(code_of(part)):
            continue
        found = re.search(r"\bON\s+CONFLICT\s+(IGNORE|REPLACE)\b", code_of(part), re.IGNORECASE)
        if found:
            yield part, found[1]


def _kept_name(part: str) -> str:
    """'column description' or 'table constraint UNIQUE (a, b) ON CONFLICT IGNORE'."""
    code = code_of(part)
    if TABLE_CONSTRAINT.match(code):
        return f"table constraint {code}"
    return f"column {code.split()[0]}"


def _triggers_that_could_touch_runner_rows(conn: sqlite3.Connection) -> list[str]:
    """Triggers on the table that could block, ignore or change a row the runner writes: every
    BEFORE (or INSTEAD OF) trigger, and every AFTER trigger whose body names the table. An AFTER
    trigger that only writes elsewhere (an audit trail) cannot, and is kept."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = ? "
        "UNION ALL SELECT name, sql FROM sqlite_temp_master "
        "WHERE type = 'trigger' AND lower(tbl_name) = ?",
        (TABLE, TABLE),
    ).fetchall()
    return [str(name) for name, sql in rows if not _writes_only_elsewhere(str(sql))]


def _writes_only_elsewhere(sql: str) -> bool:
    """Whether a trigger's SQL is an AFTER trigger whose WHEN and body never name the table."""
    match = _TRIGGER_TIMING.match(code_of(sql))
    if match is None or match["timing"] is None or match["timing"].upper() != "AFTER":
        return False  # BEFORE is SQLite's default when no timing is written
    rest = code_of(sql)[match.end() :]
    after_on = re.search(r"\bON\s+" + NAME, rest, re.IGNORECASE)
    body = rest[after_on.end() :] if after_on else rest
    return re.search(rf"\b{TABLE}\b", body, re.IGNORECASE) is None


def _probe_runner_rows(conn: sqlite3.Connection, old: OldTable) -> None:
    """Write and remove a row exactly as the runner will, then undo both: a column definition
    kept from the old table (a CHECK, a NOT NULL, a type) that rejects the runner's values
    refuses the upgrade now, inside its transaction, instead of failing every later run."""
    probe = bookkeeping.Entry(
        _probe_version(conn), "schema", "upgrade probe", "v1:" + "0" * 64, "0" * 64
    )
    conn.execute("SAVEPOINT runner_row_probe")
    try:
        bookkeeping.record(conn, probe, ms=0, rows=0)
        bookkeeping.unrecord(conn, "main", probe.version)
    except (sqlite3.Error, bookkeeping.NotWritten) as error:
        named = [n for n in old.names if re.search(rf"\b{re.escape(n)}\b", str(error))]
        where = f"column {', '.join(named)}: " if named else ""
        raise UpgradeRefused(
            f"{where}the runner could not record a migration in {TABLE} ({error}); change "
            "the definition to accept the runner's values"
        ) from None
    conn.execute("ROLLBACK TO runner_row_probe")
    conn.execute("RELEASE runner_row_probe")


def _probe_version(conn: sqlite3.Connection) -> int:
    """The version the runner would record next on the main track."""
    row = conn.execute(
        f"SELECT max(version) FROM main.{TABLE} WHERE migration_type IS NOT 'seed'"
    ).fetchone()
    return int(row[0] or 0) + 1


def _foreign_keys_into(conn: sqlite3.Connection) -> Iterator[tuple[str, list[str]]]:
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> ?", (TABLE,)
    ).fetchall()
    for (name,) in tables:
        keys: dict[int, list[str]] = {}
        for row in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (name,)):
            if str(row[2]).lower() == TABLE:
                keys.setdefault(row[0], []).append(row[4] or "its primary key")
        for columns in keys.values():
            yield str(name), columns


def _dependents(conn: sqlite3.Connection) -> list[tuple[str, str, str, bool]]:
    """(type, name, sql, whether it is on the table) of the indexes and triggers on the table,
    every view, and the triggers elsewhere that name the table or a view, in creation order."""
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND type IN ('index', 'trigger', 'view') AND name <> ? ORDER BY rowid",
        (IDENTITY_INDEX,),
    ).fetchall()
    views = [str(r[1]).lower() for r in rows if r[0] == "view"]
    names = re.compile(
        r"\b(?:" + "|".join(re.escape(n) for n in [TABLE, *views]) + r")\b", re.IGNORECASE
    )
    kept: list[tuple[str, str, str, bool]] = []
    for kind, name, table, sql in rows:
        on_table = str(table).lower() == TABLE
        if on_table or kind == "view" or (kind == "trigger" and names.search(sql)):
            kept.append((str(kind), str(name), str(sql), on_table))
    return kept


def _check_columns_kept(conn: sqlite3.Connection, old: OldTable) -> None:
    """Every old column reads back with its type, NOT NULL and default (version aside)."""
    new = {
        str(r[1]): (r[2], r[3], r[4], r[6])
        for r in conn.execute(f"PRAGMA main.table_xinfo({TABLE})")
    }
    changed = [
        name
        for name, kind, notnull, default, _pk, hidden in old.info
        if name.lower() != "version" and new.get(name) != (kind, notnull, default, hidden)
    ]
    if changed:
        raise UpgradeRefused(f"the rebuild would change the definition of {', '.join(changed)}")
