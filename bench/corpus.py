"""Generated migration corpora for the performance measurements.

`write_corpus(root, n)` writes `n` migrations (main track: schema and data; seed track) with a
rollback for every main-track migration, in the subfolder layout. The SQL is simple but
shaped like real projects: tables with a foreign key to the previous table, indexes, a trigger with
a `BEGIN ... END` body, `ADD COLUMN`, `INSERT` and `UPDATE` data migrations (with a `;` inside a
string and a comment), seeds with `INSERT OR IGNORE`. Every rollback exactly undoes its migration,
so the corpus passes numbering, checksums, lint, apply_empty and rollback_roundtrip.

`write_batch_corpus(root)` and `fill_rows(db, rows)` build the `@batch` case: a table of many rows
and one data migration that backfills a column in batches.

Run directly to write a corpus: `python bench/corpus.py DIR --n 1000`.
"""

from __future__ import annotations

import argparse
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SEED_EVERY = 20  # one seed per 20 migrations; the rest are main track
UNIT = 5  # main-track migrations per generated table


@dataclass(frozen=True)
class Corpus:
    root: Path  # the migrations directory
    main: list[Path]  # main-track files in apply order
    seeds: list[Path]  # seed files in apply order
    rollbacks: list[Path]

    @property
    def apply_order(self) -> list[Path]:
        return [*self.main, *self.seeds]

    def concatenated_sql(self) -> str:
        """Every migration's SQL in apply order (main track, then seeds), for the baselines."""
        return "\n".join(path.read_text(encoding="utf-8") for path in self.apply_order)


def split_counts(n: int) -> tuple[int, int]:
    """(main, seeds) for a corpus of n migrations; at least one of each when n >= 2."""
    seeds = max(1, n // SEED_EVERY) if n >= 2 else 0
    return n - seeds, seeds


def main_migration(version: int) -> tuple[str, str, str, str]:
    """(kind, slug, sql, rollback sql) of main-track migration `version` (1-based)."""
    if version == 1:
        return (
            "schema",
            "create_settings",
            "CREATE TABLE settings (\n"
            "    key TEXT PRIMARY KEY,\n"
            "    value TEXT NOT NULL,\n"
            "    updated_at TEXT\n"
            ");\n",
            "DROP TABLE settings;\n",
        )
    table, step = divmod(version - 2, UNIT)
    t = f"t_{table:05d}"
    parent = f"t_{table - 1:05d}" if table else None
    return _STEPS[step](t, parent)


def _create_table(t: str, parent: str | None) -> tuple[str, str, str, str]:
    reference = f" REFERENCES {parent} (id)" if parent else ""
    sql = (
        f"-- {t}: one of the generated tables\n"
        f"CREATE TABLE {t} (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    name TEXT NOT NULL,\n"
        "    qty INTEGER NOT NULL DEFAULT 0,\n"
        f"    parent_id INTEGER{reference},\n"
        "    created_at TEXT\n"
        ");\n"
    )
    return "schema", f"create_{t}", sql, f"DROP TABLE {t};\n"


def _create_index(t: str, parent: str | None) -> tuple[str, str, str, str]:
    sql = (
        f"CREATE INDEX idx_{t}_name ON {t} (name);\n"
        f"CREATE TRIGGER trg_{t}_qty BEFORE UPDATE OF qty ON {t}\n"
        "WHEN NEW.qty < 0\n"
        "BEGIN\n"
        "    SELECT RAISE(ABORT, 'qty must not be negative; fix the data');\n"
        "END;\n"
    )
    rollback = f"DROP TRIGGER trg_{t}_qty;\nDROP INDEX idx_{t}_name;\n"
    return "schema", f"index_{t}_name", sql, rollback


def _insert_rows(t: str, parent: str | None) -> tuple[str, str, str, str]:
    values = ",\n".join(
        f"    ({i}, 'item {i}; of {t}', {i * 10}, NULL, '2024-01-0{i}')" for i in range(1, 6)
    )
    sql = (
        f"-- rows for {t}; a ';' in a comment must not split the statement\n"
        f"INSERT INTO {t} (id, name, qty, parent_id, created_at) VALUES\n{values};\n"
    )
    rollback = f"DELETE FROM {t} WHERE id BETWEEN 1 AND 5;\n"
    return "data", f"fill_{t}", sql, rollback


def _add_column(t: str, parent: str | None) -> tuple[str, str, str, str]:
    sql = f"ALTER TABLE {t} ADD COLUMN note TEXT;\n"
    return "schema", f"add_{t}_note", sql, f"ALTER TABLE {t} DROP COLUMN note;\n"


def _update_rows(t: str, parent: str | None) -> tuple[str, str, str, str]:
    sql = f"UPDATE {t} SET qty = qty + 1 WHERE id <= 3;\n"
    return "data", f"bump_{t}_qty", sql, f"UPDATE {t} SET qty = qty - 1 WHERE id <= 3;\n"


_STEPS = (_create_table, _create_index, _insert_rows, _add_column, _update_rows)


def seed_migration(number: int) -> tuple[str, str]:
    """(slug, sql) of seed `number` (1-based): idempotent reference data."""
    sql = (
        "INSERT OR IGNORE INTO settings (key, value, updated_at)\n"
        f"VALUES ('setting_{number:05d}', 'value {number}; default', '2024-01-01T00:00:00Z');\n"
    )
    return f"default_setting_{number:05d}", sql


def write_corpus(root: Path, n: int) -> Corpus:
    """Write n migrations (main track and seeds) and the main track's rollbacks under root."""
    main_count, seed_count = split_counts(n)
    for folder in ("schema", "data", "seed", "rollback"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    main: list[Path] = []
    rollbacks: list[Path] = []
    for version in range(1, main_count + 1):
        kind, slug, sql, rollback_sql = main_migration(version)
        path = root / kind / f"{version:04d}_{slug}.sql"
        path.write_text(sql, encoding="utf-8")
        main.append(path)
        rollback = root / "rollback" / f"{version:04d}_rollback.sql"
        rollback.write_text(rollback_sql, encoding="utf-8")
        rollbacks.append(rollback)
    seeds: list[Path] = []
    for number in range(1, seed_count + 1):
        slug, sql = seed_migration(number)
        path = root / "seed" / f"{number:04d}_{slug}.sql"
        path.write_text(sql, encoding="utf-8")
        seeds.append(path)
    return Corpus(root, main, seeds, rollbacks)


# --- the @batch case -----------------------------------------------------------------------------

BATCH_TABLE = "readings"
BATCH_SIZE = 10_000
# Each batch finds the next rows through a partial index of the pending ones, in id order. The
# naive `WHERE rowid IN (SELECT rowid ... WHERE patient_mrn IS NULL LIMIT :batch_size)` without
# that index rescans every already-done row on each batch: O(rows^2 / batch) (5x slower at 1M).
BATCH_UPDATE = (
    f"UPDATE {BATCH_TABLE} SET patient_mrn = 'MRN-' || patient_id\n"
    f"WHERE id IN (SELECT id FROM {BATCH_TABLE} WHERE patient_mrn IS NULL"
    " ORDER BY id LIMIT :batch_size);\n"
)
# The same work as one statement: the baseline the batched migration is compared with.
UNBATCHED_UPDATE = (
    f"UPDATE {BATCH_TABLE} SET patient_mrn = 'MRN-' || patient_id WHERE patient_mrn IS NULL"
)


def write_batch_corpus(root: Path, *, batch_size: int = BATCH_SIZE) -> Corpus:
    """0001 creates the readings table and its pending-rows index; 0002 is a `@batch` backfill."""
    for folder in ("schema", "data", "rollback"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    create = root / "schema" / "0001_create_readings.sql"
    create.write_text(
        f"CREATE TABLE {BATCH_TABLE} (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    patient_id TEXT NOT NULL,\n"
        "    patient_mrn TEXT,\n"
        "    value REAL NOT NULL,\n"
        "    taken_at TEXT NOT NULL\n"
        ");\n"
        f"CREATE INDEX {BATCH_TABLE}_pending_mrn ON {BATCH_TABLE} (id)"
        " WHERE patient_mrn IS NULL;\n",
        encoding="utf-8",
    )
    backfill = root / "data" / "0002_backfill_patient_mrn.sql"
    backfill.write_text(
        f"-- @batch {batch_size}\n"
        f"-- @progress SELECT COUNT(*) FROM {BATCH_TABLE} WHERE patient_mrn IS NULL\n"
        + BATCH_UPDATE,
        encoding="utf-8",
    )
    rollbacks = [root / "rollback" / "0001_rollback.sql", root / "rollback" / "0002_rollback.sql"]
    rollbacks[0].write_text(f"DROP TABLE {BATCH_TABLE};\n", encoding="utf-8")
    rollbacks[1].write_text(
        f"UPDATE {BATCH_TABLE} SET patient_mrn = NULL WHERE patient_mrn IS NOT NULL;\n",
        encoding="utf-8",
    )
    return Corpus(root, [create, backfill], [], rollbacks)


def fill_rows(db: Path, rows: int) -> None:
    """Insert `rows` readings (patient_mrn NULL) into the readings table in one transaction."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(
            f"INSERT INTO {BATCH_TABLE} (id, patient_id, patient_mrn, value, taken_at) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "SELECT i, printf('P%07d', i % 5000), NULL, (i % 200) / 2.0, "
            "printf('2024-01-01T00:%02d:%02dZ', (i / 60) % 60, i % 60) FROM n",
            (rows,),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Write a generated migrations corpus.")
    parser.add_argument("root", type=Path, help="migrations directory to write")
    parser.add_argument("--n", type=int, default=1000, help="number of migrations (default 1000)")
    args = parser.parse_args()
    corpus = write_corpus(args.root, args.n)
    print(
        f"{args.root}: {len(corpus.main)} main-track, {len(corpus.seeds)} seed, "
        f"{len(corpus.rollbacks)} rollback files"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
