"""What a run keeps per statement of a large PostgreSQL data migration: its text, not its parse
tree (a 16 MB file of 200,000 INSERTs held ~1 GB when every statement kept its tree)."""

from __future__ import annotations

import tracemalloc

import pytest
from pglast.parser import ParseError

from ci.core.model import InputError
from ci.db.postgres.statements import split, statement_slices

ROWS = 5_000


def _fill(rows: int) -> str:
    return "".join(
        f"INSERT INTO big VALUES ({i}, 'row {i} ;; $$ -- not a comment /* nor this */');\n"
        for i in range(rows)
    )


def test_split_statements_keep_their_text_not_their_tree() -> None:
    text = _fill(ROWS)
    tracemalloc.start()
    try:
        statements = split(text)
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(statements) == ROWS
    assert kept / ROWS < 800, f"{kept / ROWS:.0f} bytes kept per statement"
    assert statements[7].keyword == "INSERT" and statements[7].line == 8
    assert statements[7].tree is not None  # parsed again when the gate asks


TRICKY = (
    "-- a comment; with a semicolon\nCREATE TABLE t (a text);\n;\n"
    "INSERT INTO t VALUES (E'it\\'s; here'), ($x$ ; $$ $x$) /* ; /* nested ; */ */;\n"
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
    "DO $$ BEGIN PERFORM 1; END $$;\nSELECT 'é;' -- trailing; comment\n"
)


def test_statements_found_a_chunk_at_a_time_are_those_of_the_whole_text() -> None:
    whole = statement_slices(TRICKY, chunk=len(TRICKY))
    assert len(whole) == 5
    for chunk in range(1, len(TRICKY) + 1):
        assert statement_slices(TRICKY, chunk=chunk) == whole, chunk


def test_a_syntax_error_after_the_first_chunk_names_its_own_line() -> None:
    text = _fill(50) + "INSERT INTO big VALUES (1,;\n" + _fill(3)
    with pytest.raises(InputError, match=r"^f\.sql:51: syntax error at or near \";\"$"):
        split(text, source="f.sql")
    with pytest.raises(ParseError) as raised:
        statement_slices(text, chunk=100)
    assert raised.value.args[1] == text.index(",;") + 1
