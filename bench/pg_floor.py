"""The floor of a Python runner on PostgreSQL: the bare loop any runner that keeps a bookkeeping
row and one transaction per migration has to run, and nothing else.

    python bench/pg_floor.py ORDER_FILE URL

ORDER_FILE lists the migration files in apply order, one path a line. On one psycopg
connection: create a `schema_version` table, then per file read it, BEGIN, send the whole file
as one simple-protocol query (the server splits it), insert the row, COMMIT. No plan, no
checksums, no gate, no log row, no error handling beyond stopping: what `ci.migrate
--database-url` does on top of this is the runner's own cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

TABLE = (
    b"CREATE TABLE schema_version (version integer NOT NULL, migration_type text NOT NULL,"
    b" description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)
ROW = b"INSERT INTO schema_version (version, migration_type, description) VALUES (%s, %s, %s)"


def apply_all(order: list[Path], url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE)
        for path in order:
            number, _, slug = path.stem.partition("_")
            conn.execute(b"BEGIN")
            conn.execute(path.read_bytes())
            conn.execute(ROW, (int(number), path.parent.name, slug))
            conn.execute(b"COMMIT")
    return len(order)


def main(argv: list[str]) -> int:
    order_file, url = argv
    order = [Path(line) for line in Path(order_file).read_text(encoding="utf-8").splitlines()]
    print(f"{apply_all(order, url)} migrations applied")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
