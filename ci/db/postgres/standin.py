"""STAND-IN, to be replaced by ci.db.postgres.statements (`split`, `PgGate`) at the merge: the
runner calls only `split(text)` and `PgGate(conn, ...).execute(statement, notice=...)` /
`.restore()`, so the swap is one import in ci.db.postgres.execute.

This stand-in splits with pglast's scanner and lets the server run every statement, except
transaction control (the runner owns the transaction: ignored with a notice, told apart by
pglast's parse tree), and sets back with RESET the settings a file changed with a plain SET.
It has none of the real gate's other rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from pglast import parser

from ci.core.sqltext import Statement


def split(text: str, *, source: str = "") -> list[Statement]:
    """The statements of a file, each with the line of its first token (`source`, the file's
    name, is the real splitter's, for its errors)."""
    try:
        slices = parser.split(text, with_parser=False, only_slices=True)
    except parser.ParseError:  # an unterminated quote or comment: the server says
        return [Statement(text, 1, 0)] if text.strip() else []
    statements = []
    for part in slices:
        first = part.start + _first_token(text[part])
        statements.append(Statement(text[part], text.count("\n", 0, first) + 1, part.start))
    return statements


def _first_token(raw: str) -> int:
    """Where the first token after leading comments starts in `raw` (in characters)."""
    for token in parser.scan(raw):
        if token.name not in ("SQL_COMMENT", "C_COMMENT"):
            return int(token.start)
    return 0


class PgGate:
    """Runs one file's statements on the runner's connection."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        *,
        no_transaction: bool = False,
        rollback: bool = False,
        throwaway: bool = False,
    ) -> None:
        self.conn = conn
        self.no_transaction = no_transaction
        self.rollback = rollback
        self.throwaway = throwaway
        self.changed: list[str] = []  # settings a plain SET changed, to RESET afterwards

    def execute(
        self, statement: Statement, *, notice: Callable[[str], None] | None = None
    ) -> str | None:
        kind, setting = _what_it_is(statement.sql)
        if kind == "TransactionStmt":
            if notice is not None:
                notice(
                    f"{statement.sql.split()[0].upper()} ignored: the runner owns the transaction"
                )
            return None
        self.conn.execute(statement.raw)  # as the real gate: the server's position counts raw
        if setting is not None:
            self.changed.append(setting)
        return None

    def restore(self) -> None:
        for name in reversed(self.changed):
            self.conn.execute(f'RESET "{name}"')
        self.changed.clear()


def _what_it_is(sql: str) -> tuple[str | None, str | None]:
    """(the parse tree's node name, the setting a plain SET changes) of one statement;
    (None, None) when pglast cannot parse it (the server then says what is wrong)."""
    try:
        parsed = parser.parse_sql(sql)
    except parser.ParseError:
        return None, None
    if len(parsed) != 1:
        return None, None
    node: Any = parsed[0].stmt
    kind = type(node).__name__
    if kind == "VariableSetStmt" and not node.is_local and node.name:
        return kind, str(node.name)
    return kind, None
