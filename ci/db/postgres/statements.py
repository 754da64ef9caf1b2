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

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from pglast import ast
from pglast.parser import ParseError, parse_sql, scan
from pglast.parser import split as split_statements
from psycopg import sql

from ci.core.model import InputError
from ci.core.sqltext import Statement
from ci.db.gate_screen import REFUSE
from ci.db.postgres.gate_reach import REFUSED_FUNCTIONS
from ci.db.postgres.gate_rules import GateState, changes_settings, custom_settings, decide
from ci.db.postgres.gate_tree import BOOKKEEPING_TABLES

CHUNK = 1 << 16  # characters the parser is given at once (see statement_slices)
COMMENT_TOKENS = frozenset(("SQL_COMMENT", "C_COMMENT"))
SEMICOLON = "ASCII_59"


class PgStatement(Statement):
    """A piece of a PostgreSQL file: one statement, or (`is_statement` false) only comments and
    `;`. Its keyword and code are the scanner's: the SQLite text helpers do not know nested
    comments. Its parse tree is made when asked and not kept (one built ahead, until asked): a
    generated data migration of 200,000 INSERTs would otherwise hold 200,000 trees."""

    __slots__ = ("_ahead", "is_statement")

    def __init__(self, raw: str, line: int, offset: int, *, is_statement: bool) -> None:
        super().__init__(raw, line, offset)
        self.is_statement = is_statement
        self._ahead: ast.Node | None = None

    @property
    def code(self) -> str:
        """Made when first asked (lint's rules ask it often; the runner never does)."""
        if self._code is None:
            self._code = _code(self.raw)
        return self._code

    @property
    def keyword(self) -> str:
        if self._keyword is None:  # without keeping the code: the runner asks only this
            code = self._code if self._code is not None else _code(self.raw)
            words = code.split(maxsplit=1)
            self._keyword = sys.intern(words[0].rstrip(";").upper()) if words else ""
        return self._keyword

    @property
    def tree(self) -> ast.Node | None:
        """The statement's parse tree (None for a piece without one), parsed anew each time,
        but the first time after `parse_ahead`: that tree is handed over, and not kept."""
        tree, self._ahead = self._ahead, None
        if tree is not None or not self.is_statement:
            return tree
        parsed = parse_sql(self.raw)
        return parsed[0].stmt if parsed else None

    def parse_ahead(self) -> None:
        """Build the tree now, for the next `tree` (ci.db.postgres.parse_ahead) to hand over."""
        self._ahead = self.tree  # the one built before, if any: `tree` hands it back


def split(text: str, *, source: str = "") -> list[Statement]:
    """The statements of `text`, each with the line of its first token; a piece that holds only
    comments (or a stray `;`) is not one. Raises InputError (`source:line: why`) for text the
    server would not parse."""
    return [piece for piece in split_pieces(text, source=source) if piece.is_statement]


def split_pieces(text: str, *, source: str = "") -> list[PgStatement]:
    """Like `split`, but every character of `text` is in exactly one piece."""
    try:
        found = statement_slices(text)
    except ParseError as error:
        raise InputError(_syntax_error(text, error, source)) from None
    pieces: list[PgStatement] = []
    start = 0
    line = 1  # line of `start`, counted piece by piece (from 0 each time is O(n^2))
    for end, statement in _piece_ends(text, found):
        first = statement.start if statement is not None else start
        raw = text[start:end]
        pieces.append(
            PgStatement(
                raw,
                line + text.count("\n", start, first),
                start,
                is_statement=statement is not None,
            )
        )
        line += text.count("\n", start, end)
        start = end
    return pieces


def statement_slices(text: str, *, chunk: int = CHUNK) -> list[slice]:
    """Where each statement starts and ends, from the parser without building its trees, about
    `chunk` characters at a time: the parser holds the whole tree of what it is given in memory
    (~10 times the text), too much at once for a generated data migration of many MB. A
    statement that ends with a `;` is the same whatever follows it, so each chunk's statements
    are kept but its last (perhaps cut short), where the next chunk starts."""
    found: list[slice] = []
    at = 0
    while at < len(text):
        end, part = _chunk_statements(text, at, chunk)
        if end == len(text):
            found += [slice(at + s.start, at + s.stop) for s in part]
            break
        found += [slice(at + s.start, at + s.stop) for s in part[:-1]]
        at += part[-2].stop
    return found


def _chunk_statements(text: str, at: int, size: int) -> tuple[int, tuple[slice, ...]]:
    """(where the chunk from `at` ends, its statements): at least two, unless it reaches the
    end of the text. A chunk ends at a line's end; one cut where the parser cannot stop (in a
    string, a comment, a long statement) is made twice as long."""
    while True:
        end = at + size
        if end >= len(text):
            end = len(text)
        elif (newline := text.rfind("\n", at, end)) > at:
            end = newline + 1
        try:
            part = split_statements(text[at:end], with_parser=True, only_slices=True)
        except ParseError as error:
            if end == len(text):  # where the text is wrong, counted from the text's start
                message, index = error.args[0], error.args[1] if len(error.args) > 1 else None
                raise ParseError(message, None if index is None else at + index) from None
            size *= 2
            continue
        if end == len(text) or len(part) >= 2:
            return end, part
        size *= 2


def _piece_ends(text: str, found: Sequence[slice]) -> list[tuple[int, slice | None]]:
    """Where each piece ends (after its `;`, or at the end of the text) and the statement in it.
    Between two statements there are only blanks, comments and `;`: the first `;` after a
    statement ends its piece, a further one is a stray `;` (a piece of its own)."""
    ends: list[tuple[int, slice | None]] = []
    current: slice | None = None  # the statement whose piece is still open
    gap = 0  # where the text between statements starts
    for statement in [*found, None]:
        stop = len(text) if statement is None else statement.start
        for at in _semicolons(text[gap:stop]):
            ends.append((gap + at + 1, current))
            current = None
        if statement is None:
            break
        current, gap = statement, statement.stop
    if current is not None or not ends or ends[-1][0] < len(text):
        ends.append((len(text), current))
    return ends


def _semicolons(between: str) -> list[int]:
    """Where the `;` of text between statements are (not those inside its comments)."""
    if ";" not in between:
        return []
    if "-" not in between and "/" not in between:  # no comment: every `;` counts
        return [at for at, char in enumerate(between) if char == ";"]
    return [token.start for token in scan(between) if token.name == SEMICOLON]


def _code(piece: str) -> str:
    """The piece without its comments, whitespace folded."""
    if "--" not in piece and "/*" not in piece:  # no comment (most data migrations' rows)
        return " ".join(piece.split())
    kept, at = [], 0
    for token in scan(piece):
        if token.name in COMMENT_TOKENS:
            kept.append(piece[at : token.start])
            at = token.end + 1
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


# What the gate's tree walks look for by name (the runner's tables, the functions it refuses,
# set_config), and text that may spell a name otherwise than as written: a backslash (E'\x73'
# in a body given as a string), U&"\0073" identifiers and strings, a string continued on the
# next line ('schema_'<newline>'version' is one string).
WATCHED_NAMES = (*BOOKKEEPING_TABLES, *REFUSED_FUNCTIONS, "set_config")
ESCAPES = re.compile(r"\\|u&|'\s*\n\s*'", re.IGNORECASE)


def may_name_watched(text: str) -> bool:
    """Whether a statement's text may name what the gate's walks look for; False only when
    every walk would find nothing: a name in the tree (also in a function's body) is in the
    text as written, folded to lower case, unless spelled with an escape."""
    if ESCAPES.search(text):
        return True
    lowered = text.lower()
    return any(name in lowered for name in WATCHED_NAMES)


class PgGate:
    """Runs one migration file's statements under the rules (ci.db.postgres.gate_rules).

    `no_transaction`: each statement commits on its own (the connection is in autocommit and
    the runner opened no transaction). `rollback`: a rollback file (its `DELETE FROM
    schema_version` is ignored). `throwaway`: a check's throwaway database (nothing that
    belongs to the whole server, nothing that reaches outside it). `dry_run`: a dry run,
    rolled back at the end (nothing that reaches outside the database)."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        *,
        no_transaction: bool = False,
        rollback: bool = False,
        throwaway: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.conn = conn
        self.state = GateState(
            no_transaction=no_transaction,
            rollback=rollback,
            throwaway=throwaway,
            server=conn.info.server_version,
            database=conn.info.dbname,
            dry_run=dry_run,
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
        names = may_name_watched(statement.raw)  # most statements: no walk of their tree
        verdict = decide(self.state, tree, _words(statement), names=names)
        if verdict is not None:
            if verdict.kind == REFUSE:
                return verdict.message
            if notice is not None and verdict.message:
                notice(verdict.message)
            return None
        if changes_settings(tree, names=names):
            self._save_settings(tree)
        cursor = self.conn.execute(statement.raw, prepare=False)
        self.rowcount = max(cursor.rowcount, 0)
        self.state.ran(tree)
        return None

    def as_is(self, statement: Statement, tree: ast.Node) -> bool:
        """Whether `execute` sends the statement as it is, with nothing to refuse, say, save
        first or track (a savepoint): what a caller may send ahead, in a pipeline."""
        names = may_name_watched(statement.raw)
        if isinstance(tree, ast.TransactionStmt) or changes_settings(tree, names=names):
            return False
        return decide(self.state, tree, _words(statement), names=names) is None

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
