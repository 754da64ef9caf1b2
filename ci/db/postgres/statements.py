"""A PostgreSQL migration file's statements, as the server reads them, and the gatekeeper that
runs them one by one.

`split` asks PostgreSQL's own parser and scanner (pglast wraps libpg_query, the server's grammar)
where statements end, so dollar-quoted bodies (`$$ ... ; ... $$`), `E'\\''` strings, quoted
identifiers holding `;`, nested `/* /* */ */` comments and `BEGIN ATOMIC ... END` function bodies
split exactly as the server would. The pieces joined give the file back, like the SQLite
splitter's (ci.core.sqltext). A file the parser rejects is one line naming the line, before
anything runs: psql's meta-commands (`\\i`, `\\set`, `\\connect`) are not SQL and are named as
such.

`PgGate` applies the rules of ci.db.postgres.gate_rules (the table of what is run, ignored or
refused, and why) to one file's statements, decided from the parse tree, never from the text.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import psycopg
from pglast import ast
from pglast.parser import ParseError, Token, parse_sql, scan
from psycopg import sql

from ci.core.model import InputError
from ci.core.sqltext import Statement
from ci.db.gate_screen import REFUSE
from ci.db.postgres.gate_rules import GateState, changes_settings, custom_settings, decide

COMMENT_TOKENS = frozenset(("SQL_COMMENT", "C_COMMENT"))
SEMICOLON = "ASCII_59"
BACKSLASH = "ASCII_92"


class PgStatement(Statement):
    """A statement of a PostgreSQL file, with its parse tree (None for a piece holding only
    comments and `;`). Its keyword and code are the scanner's: the SQLite text helpers do not
    know nested comments."""

    __slots__ = ("tree",)

    def __init__(
        self, raw: str, line: int, offset: int, *, tree: ast.Node | None, code: str
    ) -> None:
        super().__init__(raw, line, offset)
        self.tree = tree
        self._code = code
        words = code.split(maxsplit=1)
        self._keyword = words[0].rstrip(";").upper() if words else ""


def split(text: str, *, source: str = "") -> list[Statement]:
    """The statements of `text`, each with the line of its first token; a piece that holds only
    comments (or a stray `;`) is not one. Raises InputError (`source:line: why`) for text the
    server would not parse."""
    return [piece for piece in split_pieces(text, source=source) if piece.tree is not None]


def split_pieces(text: str, *, source: str = "") -> list[PgStatement]:
    """Like `split`, but every character of `text` is in exactly one piece."""
    try:
        parsed = parse_sql(text)
        tokens = scan(text)
    except ParseError as error:
        raise InputError(_syntax_error(text, error, source)) from None
    comments = [(token.start, token.end + 1) for token in tokens if token.name in COMMENT_TOKENS]
    pieces: list[PgStatement] = []
    start = 0
    line = 1  # line of `start`, counted piece by piece (from 0 each time is O(n^2))
    for end, raw in _piece_ends(text, parsed, tokens):
        first = raw.stmt_location or start if raw is not None else start
        pieces.append(
            PgStatement(
                text[start:end],
                line + text.count("\n", start, first),
                start,
                tree=raw.stmt if raw is not None else None,
                code=_code(text[start:end], _within(comments, start, end)),
            )
        )
        line += text.count("\n", start, end)
        start = end
    return pieces


def _within(comments: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The comments inside text[start:end], relative to `start` (comments are in order)."""
    low = bisect_left(comments, (start, start))
    high = bisect_left(comments, (end, end))
    return [(begin - start, stop - start) for begin, stop in comments[low:high]]


def _piece_ends(
    text: str, parsed: tuple[ast.RawStmt, ...], tokens: list[Token]
) -> list[tuple[int, ast.RawStmt | None]]:
    """Where each piece ends (after its `;`, or at the end of the text) and the statement in it.
    A `;` ends a piece unless it is inside a statement (a BEGIN ATOMIC body)."""
    ends: list[tuple[int, ast.RawStmt | None]] = []
    statements = iter(parsed)
    current = next(statements, None)
    for token in tokens:
        if token.name != SEMICOLON:
            continue
        at = token.start
        if current is not None and (current.stmt_location or 0) <= at:
            length = current.stmt_len or 0
            if length == 0 or at < (current.stmt_location or 0) + length:
                continue  # inside the statement
            ends.append((at + 1, current))
            current = next(statements, None)
        else:
            ends.append((at + 1, None))  # a stray `;`
    if current is not None or not ends or ends[-1][0] < len(text):
        ends.append((len(text), current))
    return ends


def _code(piece: str, comments: list[tuple[int, int]]) -> str:
    """The piece without its comments, whitespace folded."""
    kept, at = [], 0
    for begin, stop in comments:
        kept.append(piece[at:begin])
        at = stop
    kept.append(piece[at:])
    return " ".join(" ".join(kept).split())


def _syntax_error(text: str, error: ParseError, source: str) -> str:
    message, index = error.args[0], error.args[1] if len(error.args) > 1 else None
    if index is None:  # at the end of the input
        index = len(text.rstrip())
    line = text.count("\n", 0, index) + 1
    where = f"{source}:{line}" if source else f"line {line}"
    meta = _meta_command(text, index)
    if meta is not None:
        return (
            f"{where}: psql meta-command {meta} is not SQL; the runner sends statements to the "
            "server, not to psql (write the SQL it stands for)"
        )
    if _after_copy_from_stdin(text, index):
        return (
            f"{where}: rows after COPY ... FROM stdin are psql's inline data, not SQL; the "
            "runner sends statements to the server (use INSERT, or pg_dump --inserts)"
        )
    first, _, rest = str(message).partition("\n")  # "at or near" quotes the text: one line
    return f"{where}: {first}" + ('..."' if rest else "")


def _after_copy_from_stdin(text: str, index: int) -> bool:
    """Whether the parser stopped in the rows that follow a `COPY ... FROM stdin;` (a plain
    pg_dump's data), asked of the parser again for the text before the failing line."""
    try:
        before = parse_sql(text[: text.rfind("\n", 0, index) + 1])
    except ParseError:
        return False
    last = before[-1].stmt if before else None
    return isinstance(last, ast.CopyStmt) and bool(last.is_from) and last.filename is None


def _meta_command(text: str, index: int) -> str | None:
    """The psql meta-command (`\\i`) the parser stopped at, if it stopped at one."""
    start = text.rfind("\n", 0, index) + 1
    line = text[start:].split("\n", 1)[0].strip()
    if text[index : index + 1] == "\\":
        return text[index:].split(maxsplit=1)[0]
    if line.startswith("\\"):
        return line.split()[0]
    return None


# Session settings a migration may change for itself (SET without LOCAL, set_config(..., false),
# RESET, DISCARD): read before the first such statement, set back by `PgGate.restore`. Role and
# session authorization are not in pg_settings; transaction_* end with the transaction.
SETTINGS = (
    "SELECT name, setting FROM pg_settings WHERE context IN ('user', 'superuser') "
    "AND name NOT LIKE 'transaction\\_%'"
)
IDENTITY = "SELECT current_setting('session_authorization'), current_setting('role')"
SET_BACK = "SELECT set_config(%s, %s, false)"
CUSTOM = "SELECT current_setting(%s, true)"


class PgGate:
    """Runs one migration file's statements under the rules (ci.db.postgres.gate_rules).

    `no_transaction`: each statement commits on its own (the connection is in autocommit and
    the runner opened no transaction). `rollback`: a rollback file (its `DELETE FROM
    schema_version` is ignored). `throwaway`: a check's throwaway database (nothing that
    belongs to the whole server)."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        *,
        no_transaction: bool = False,
        rollback: bool = False,
        throwaway: bool = False,
    ) -> None:
        self.conn = conn
        self.state = GateState(
            no_transaction=no_transaction,
            rollback=rollback,
            throwaway=throwaway,
            server=conn.info.server_version,
            database=conn.info.dbname,
        )
        self.rowcount = 0  # rows the last statement run changed (0 when none, or not run)
        # before the file's first change of a setting: (authorization, role), the settings
        self._saved: tuple[tuple[str, str], dict[str, str]] | None = None
        self._custom: dict[str, str | None] = {}  # custom settings before the file set them

    def execute(
        self, statement: Statement, *, notice: Callable[[str], None] | None = None
    ) -> str | None:
        """Run one statement under the rules: None when it ran, or was ignored (its notice, if
        any, told to `notice`); why, when it was refused and did not run. A statement that
        fails raises psycopg.Error (the server's own)."""
        self.rowcount = 0
        tree = _tree(statement)
        if tree is None:
            return None  # only comments: nothing to send
        if isinstance(tree, str):
            return tree
        verdict = decide(self.state, tree, _words(statement))
        if verdict is not None:
            if verdict.kind == REFUSE:
                return verdict.message
            if notice is not None and verdict.message:
                notice(verdict.message)
            return None
        if changes_settings(tree):
            self._save_settings(tree)
        cursor = self.conn.execute(statement.raw, prepare=False)
        self.rowcount = max(cursor.rowcount, 0)
        self.state.ran(tree)
        return None

    def restore(self) -> None:
        """Set back the session settings the file's statements changed. Call it after the
        file's transaction ended (committed or rolled back): inside a failed transaction it
        does nothing, as the rollback sets them back itself."""
        saved, self._saved = self._saved, None
        custom, self._custom = self._custom, {}
        if saved is None or self._failed():
            return
        identity, settings = saved
        if self._identity() != identity:  # first: the other settings may need the old role
            authorization, role = identity
            self.conn.execute(SET_BACK, ("session_authorization", authorization))
            self.conn.execute(SET_BACK, ("role", role))
        for name, value in self._settings().items():
            if settings.get(name, value) != value:
                self.conn.execute(SET_BACK, (name, settings[name]))
        for name, before in custom.items():
            if before is None:  # made up by the file
                self.conn.execute(sql.SQL("RESET {}").format(sql.Identifier(name)))
            else:
                self.conn.execute(SET_BACK, (name, before))

    def _failed(self) -> bool:
        return self.conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR

    def _identity(self) -> tuple[str, str]:
        row = self.conn.execute(IDENTITY).fetchone()
        assert row is not None
        return str(row[0]), str(row[1])

    def _settings(self) -> dict[str, str]:
        return {str(name): str(value) for name, value in self.conn.execute(SETTINGS)}

    def _save_settings(self, tree: ast.Node) -> None:
        """The settings before the file's first statement that may change them, and each
        custom setting (`app.tenant`) before the first statement that names it."""
        if self._saved is None:
            self._saved = self._identity(), self._settings()
        for name in custom_settings(tree):
            if name not in self._custom:
                row = self.conn.execute(CUSTOM, (name,)).fetchone()
                self._custom[name] = None if row is None or row[0] is None else str(row[0])


def _tree(statement: Statement) -> ast.Node | str | None:
    """The statement's parse tree; None for comments only; why, for text that is not exactly
    one statement. Text the parser rejects raises the server's kind of error."""
    if isinstance(statement, PgStatement):
        return statement.tree
    try:
        parsed = parse_sql(statement.raw)
    except ParseError as error:
        raise psycopg.errors.SyntaxError(str(error.args[0])) from None
    if len(parsed) > 1:
        return "more than one statement in one piece: the gatekeeper runs one at a time"
    return parsed[0].stmt if parsed else None


def _words(statement: Statement) -> str:
    """How the statement starts, for a notice: `COMMIT`, `END`, `START TRANSACTION`."""
    word = statement.keyword
    return f"{word} TRANSACTION" if word in ("START", "PREPARE") else word
