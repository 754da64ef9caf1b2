"""Which migrations add an enum label (`ALTER TYPE mood ADD VALUE 'happy'`): PostgreSQL lets
no statement use a new label before the transaction that added it commits (SQLSTATE 55P04,
`unsafe use of new value`). A plain run commits each migration on its own, so a later migration
may use the label; a grouped run (ci.db.postgres.group) therefore ends its group after such a
migration, and the dry run (ci.db.postgres.dryrun) stops rehearsing after it, so that neither
puts the use in the transaction of the addition where the plain run would not.

Found from the parse tree (pglast, the server's own grammar): an AlterEnumStmt with a new
value and no old one (RENAME VALUE has both), written as a statement of the migration or in
the static SQL of a DO block it runs (ci.db.postgres.gate_tree.walk). Not found: a label added
by dynamic SQL (EXECUTE of a string) or by a function the migration calls; a use of it in the
same group then fails with 55P04, and the runner's message says what to do
(ci.db.postgres.execute.failure).
"""

from __future__ import annotations

import re

from pglast import ast

from ci.core.model import InputError, Migration, SqlFile
from ci.db.postgres.gate_tree import walk
from ci.db.postgres.statements import ESCAPES, split_pieces

# ADD and VALUE are keywords, written as such also in a DO block's body unless that string is
# spelled with escapes (E'\x41DD', U&'...', a string continued on the next line: ESCAPES), so
# other text without both words adds no label (`VALUES` does not match: the word ends there).
# Only statements that may add one are parsed again (a data migration of 200,000 INSERTs into
# a column named `value` is not).
ADD_WORD = re.compile(r"\badd\b", re.IGNORECASE)
VALUE_WORD = re.compile(r"\bvalue\b", re.IGNORECASE)


def _may_add(text: str) -> bool:
    return bool((VALUE_WORD.search(text) and ADD_WORD.search(text)) or ESCAPES.search(text))


def adds_enum_label(migration: Migration) -> bool:
    """Whether the migration's statements (or a DO block's static SQL) add an enum label.
    Text the server would not parse adds none here: its run names the error."""
    return file_adds_enum_label(migration.file)


def file_adds_enum_label(file: SqlFile) -> bool:
    """adds_enum_label of one file (a migration's, or a rollback's in a dry run)."""
    text = file.text
    if not _may_add(text):
        return False
    try:
        pieces = split_pieces(text, source=file.location)
    except InputError:
        return False
    return any(
        piece.is_statement and _may_add(piece.raw) and _tree_adds_label(piece.tree)
        for piece in pieces
    )


def _tree_adds_label(tree: object) -> bool:
    # created=False: a function's body adds its label only when the function is called
    return any(
        isinstance(node, ast.AlterEnumStmt) and node.newVal and not node.oldVal
        for node in walk(tree, created=False)
    )
