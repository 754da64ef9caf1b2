"""What a migration does inside its own database that no ROLLBACK takes back: a sequence set
with `setval()` (sequences are not transactional: a rolled-back `setval` stays, and one that
set it lower makes the application's next inserts take ids already used), and the server's
statistics reset (`pg_stat_reset()` and its kin).

The dry run rehearses in a transaction it rolls back (ci.db.postgres.dryrun,
ci.db.postgres.dryrun_rollback), so it stops before a migration or rollback step that calls
one of them: it and the steps after it are "not rehearsed", as after a `@no-transaction` one.
(`nextval()` is not here: a rehearsal that uses sequence numbers up leaves a gap, as any
rolled-back transaction does, and never hands a used number out again.)

Found from the file's text (the function's name anywhere in it: see `untransacted_call`) and,
for names spelled with escapes, from the parse tree. Not found: a call made by dynamic SQL that
builds the name from pieces (EXECUTE 'set' || 'val...'), or by a function or trigger that
already exists and that the file only fires.
"""

from __future__ import annotations

import re

from ci.core.model import InputError, SqlFile
from ci.db.postgres.gate_tree import called_functions
from ci.db.postgres.statements import ESCAPES, split_pieces

UNTRANSACTED = "setval"
STATS_RESET = "pg_stat_reset"  # and every name that starts so; also pg_stat_statements_reset
NAMES = re.compile(r"setval|pg_stat_reset\w*|pg_stat_statements_reset", re.IGNORECASE)


def untransacted_call(file: SqlFile) -> str | None:
    """The name of the first function the file may call that no ROLLBACK takes back, or None.

    Its name written anywhere in the file counts (a call, a function or trigger the file
    creates and then fires, an operator or `LANGUAGE internal` made of it, even a comment):
    a step left out of a rehearsal costs a line saying why, a rehearsal that sets a sequence
    back costs the application duplicate ids. The parse tree adds the spellings the text
    hides (U&'' escapes in a DO block's body)."""
    text = file.text
    named = NAMES.search(text)
    if named is not None:
        return named.group().lower()
    if not ESCAPES.search(text):  # most files: no parse at all
        return None
    try:
        pieces = split_pieces(text, source=file.location)
    except InputError:
        return None
    for piece in pieces:
        if not piece.is_statement or piece.tree is None:
            continue
        for name in called_functions(piece.tree):
            if (
                name == UNTRANSACTED
                or name.startswith(STATS_RESET)
                or (name == "pg_stat_statements_reset")
            ):
                return name
    return None


def why_not_rehearsed(name: str) -> str:
    """The reason a dry run gives for the step that calls `name`."""
    return (
        f"calls {name}(), which no ROLLBACK takes back (a rehearsal would change the database "
        "for real)"
    )
