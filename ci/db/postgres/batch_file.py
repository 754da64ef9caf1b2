"""A `@batch N` migration's file as PostgreSQL reads it: the server's parser knows no
`:batch_size` parameter, so the runner writes the number in its place, right-aligned in the
same width (`:batch_size` -> `      10000`), which keeps every offset and line of the file: an
error the server places in the statement is named on the file's own line. What the file must
be (one DML statement using :batch_size) is ci.db.batch_loop's rule; which table it writes is
read from its parse tree (`UPDATE ONLY s.t`, `WITH ... DELETE FROM t` alike).
"""

from __future__ import annotations

from itertools import pairwise

from pglast.parser import ParseError, scan
from psycopg import sql

from ci.core.model import InputError, SqlFile
from ci.core.sqltext import Statement
from ci.db.batch_loop import KEY_EXAMPLE, batch_problems
from ci.db.postgres.statements import PgStatement, split


class SizedFile(SqlFile):
    """The migration's file with :batch_size replaced by the number: the same path (every
    message names the migration's file), the same lines and offsets."""

    __slots__ = ()

    def __init__(self, file: SqlFile, size: int) -> None:
        super().__init__(file.location)
        self._text = sized_text(file.text, size)


def sized_text(text: str, size: int) -> str:
    """`text` with each `:batch_size` parameter written as `size`, right-aligned in the same
    width (`      10000`): every line and offset stays. The parameter is found by the server's
    own scanner (a `:` token then the identifier), so the same characters inside a string, a
    `$$` body, a quoted name or a comment, or after a `::` cast, stay as written. A text the
    scanner cannot read is returned as is: the parser then names the error on its line."""
    try:
        tokens = scan(text)
    except ParseError:
        return text
    width = len(":batch_size")
    spans = [
        colon.start
        for colon, name in pairwise(tokens)
        if colon.name == "ASCII_58"
        and name.start == colon.end + 1
        and text[name.start : name.end + 1] == "batch_size"
    ]
    for start in reversed(spans):
        text = f"{text[:start]}{size:>{width}}{text[start + width :]}"
    return text


def problems(file: SqlFile) -> list[str]:
    """Why `file` cannot be a @batch migration on PostgreSQL, as `path:line: why` lines."""
    try:
        pieces = split(sized_text(file.text, 1), source=file.location)
    except InputError as error:
        return [str(error)]
    found = batch_problems(
        file,
        pieces,
        code_of=lambda piece: _written(file, piece).code,
        example=KEY_EXAMPLE,
    )
    if not found and target(pieces[0]) is None:  # a data-modifying WITH under a SELECT
        found = [
            f"{file.path}:{pieces[0].line}: a @batch statement must be an UPDATE, DELETE or "
            "INSERT (its own rows tell when it is done), not a SELECT around a WITH that "
            "changes rows; write the WITH before the UPDATE, DELETE or INSERT"
        ]
    return found


def _written(file: SqlFile, piece: Statement) -> PgStatement:
    """The statement as the file has it (with :batch_size), from its sized piece."""
    raw = file.text[piece.offset : piece.offset + len(piece.raw)]
    return PgStatement(raw, piece.line, piece.offset, is_statement=True)


def target(statement: Statement) -> tuple[str, sql.Composed] | None:
    """The table the DML statement writes: (its name as the message says it, what to count
    its rows with); None when the tree names none."""
    tree = statement.tree if isinstance(statement, PgStatement) else None
    relation = getattr(tree, "relation", None)
    if relation is None or not relation.relname:
        return None
    parts = [p for p in (relation.schemaname, relation.relname) if p]
    name = sql.SQL(".").join(sql.Identifier(p) for p in parts)
    only = sql.SQL("" if relation.inh else "ONLY ")
    query = sql.SQL("SELECT count(*) FROM {only}{name}").format(only=only, name=name)
    return ".".join(parts), query
