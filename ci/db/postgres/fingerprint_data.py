"""The data part of a PostgreSQL fingerprint: each table's row count and a hash of its content,
computed by the server in one pass over the table.

The hash of a table is the sum of a 128-bit hash (md5) of every row's text, kept as two 64-bit
halves: a sum does not depend on the order the rows are read in, so it needs no ORDER BY (no
sort, no spill to disk) and holds only two numbers however large the table; a row that changes,
goes missing or appears twice changes it. The rows' text is the server's output of each value,
under the settings the fingerprint fixes first (time zone, date style, float digits, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


# (group key, schema, table name) of a table whose rows are read
DataTable = tuple[str, str, str]

# the table's whole row as text; ROW(alias.*) even when a column has the alias's name
_ROW_HASH = "md5(ROW(mg_row.*)::text)"
_HALF = "('x' || {part}({hash}, 16))::bit(64)::bigint"
CONTENT = (
    "SELECT count(*), "
    f"coalesce(sum({_HALF.format(part='left', hash=_ROW_HASH)}), 0), "
    f"coalesce(sum({_HALF.format(part='right', hash=_ROW_HASH)}), 0) "
    "FROM ONLY {table} AS mg_row"
)
COUNT = "SELECT count(*), NULL, NULL FROM ONLY {table} AS mg_row"


def read_data(
    conn: psycopg.Connection[Any], tables: list[DataTable], *, content: bool
) -> dict[str, tuple[int, str | None]]:
    """{group key: (rows, content hash or None)} for the given (key, schema, name) tables."""
    from psycopg import sql

    query = CONTENT if content else COUNT
    found: dict[str, tuple[int, str | None]] = {}
    for key, schema, name in tables:
        table = sql.Identifier(schema, name)
        row = conn.execute(sql.SQL(query).format(table=table)).fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
        count, high, low = row
        digest = (
            None if high is None else f"{int(high) & (2**64 - 1):016x}{int(low) & (2**64 - 1):016x}"
        )
        found[key] = (int(count), digest)
    return found


def _word(total: object) -> str:
    """A sum of 64-bit halves as 16 hex digits (the sum modulo 2**64: the server's numeric sum
    never overflows, and the low 64 bits are what a hash of the multiset keeps)."""
    return f"{int(str(total)) % 2**64:016x}"
