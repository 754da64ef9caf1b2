"""The data part of a PostgreSQL fingerprint: each table's row count and a hash of its content,
computed by the server in one pass over the table, a few dozen tables per query.

The hash of a table is the sum of two 64-bit hashes (`hashtextextended`, with two seeds: the
stable hash PostgreSQL's hash partitioning relies on) of every row's text: a sum does not depend
on the order the rows are read in, so it needs no ORDER BY (no sort, no spill to disk) and holds
only two numbers however large the table; a row that changes, goes missing or appears twice
changes it. (md5 of each row costs three times as much.) The rows' text is the server's output
of each value, under the settings the fingerprint fixes first (time zone, date style, ...).

A table whose heap has no pages at all (`pg_relation_size` 0: never written, or truncated) has
no rows, visible or dead, so it is not scanned: one query over the catalog answers for all of
them, where a scan per table costs a few dozen microseconds of planning and executing each, most
of a fingerprint's data part on a schema of many empty tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import psycopg

    # a cursor that returns plain tuples
    Cursor: TypeAlias = psycopg.Cursor[tuple[Any, ...]]


# (group key, schema, table name) of a table whose rows are read
DataTable = tuple[str, str, str]

# ROW(alias.*): the whole row as text even when a column has the alias's name
CONTENT = (
    "SELECT {number}, count(*), sum(hashtextextended(mg_text, 0)),"
    " sum(hashtextextended(mg_text, 1))"
    " FROM (SELECT ROW(mg_row.*)::text AS mg_text FROM ONLY {table} AS mg_row) AS mg_rows"
)
COUNT = "SELECT {number}, count(*), NULL::numeric, NULL::numeric FROM ONLY {table} AS mg_row"
# tables per query: one round trip for many small tables, a statement of reasonable size
BATCH = 50
# the plain tables with no heap page (a row, live or dead, always lives on a page)
EMPTY = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'r' AND pg_relation_size(c.oid) = 0"
)
# the content hash of a table without rows: both sums are NULL
NO_ROWS = "0" * 32


def read_data(
    cursor: Cursor, tables: list[DataTable], *, content: bool, few: bool = False
) -> dict[str, tuple[int, str | None]]:
    """{group key: (rows, content hash or None)} for the given (key, schema, name) tables.

    `few`: scan them all rather than first ask the catalog which are empty (a read of the
    handful of tables a step touched: the question costs more than the scans)."""
    from psycopg import sql

    query = sql.SQL(CONTENT if content else COUNT)
    empty = set() if few else set(cursor.execute(EMPTY).fetchall())
    found: dict[str, tuple[int, str | None]] = {
        key: (0, NO_ROWS if content else None) for key, *where in tables if tuple(where) in empty
    }
    tables = [table for table in tables if table[0] not in found]
    for start in range(0, len(tables), BATCH):
        batch = tables[start : start + BATCH]
        union = sql.SQL(" UNION ALL ").join(
            query.format(number=sql.Literal(number), table=sql.Identifier(schema, name))
            for number, (_, schema, name) in enumerate(batch)
        )
        for number, count, first, second in cursor.execute(union).fetchall():
            digest = None if not content else f"{_word(first)}{_word(second)}"
            found[batch[number][0]] = (int(count), digest)
    return found


def _word(total: object) -> str:
    """A sum of 64-bit hashes as 16 hex digits: the sum modulo 2**64 (the server's numeric sum
    never overflows; NULL for a table without rows)."""
    return f"{int(str(total or 0)) % 2**64:016x}"
