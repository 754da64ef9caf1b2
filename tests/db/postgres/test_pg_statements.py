"""ci.db.postgres.statements.split: statements where PostgreSQL's own parser ends them, the
pieces joining back to the file, one clear line for text the server would not parse."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci.core.model import InputError
from ci.db.postgres.statements import split, split_pieces

TRICKY = """\
-- @no-transaction? no: a plain comment; with a semicolon
CREATE TABLE notes (id int PRIMARY KEY, body text, "odd;name" text);
CREATE FUNCTION shout(t text) RETURNS text AS $fn$
    SELECT upper(t) || '; $$ not the end';
$fn$ LANGUAGE sql;
/* outer /* nested; */ still a comment; */
INSERT INTO notes VALUES (1, E'it\\'s; escaped', 'a;b');
INSERT INTO notes VALUES (2, 'don''t; stop', $$dollar; 'quoted'$$);
CREATE FUNCTION two() RETURNS int LANGUAGE sql
BEGIN ATOMIC
    SELECT 1;
    SELECT 2;
END;
INSERT INTO notes VALUES (3, shout('x'), 'é;ü') -- no semicolon at the end
-- trailing comment; not a statement
"""


def test_tricky_file_splits_where_the_server_ends_statements() -> None:
    statements = split(TRICKY)
    assert [s.keyword for s in statements] == ["CREATE"] * 2 + ["INSERT"] * 2 + ["CREATE"] + [
        "INSERT"
    ]
    assert [s.line for s in statements] == [2, 3, 7, 8, 9, 14]
    assert statements[2].code == "INSERT INTO notes VALUES (1, E'it\\'s; escaped', 'a;b');"
    assert statements[4].raw.rstrip().endswith("END;")
    pieces = split_pieces(TRICKY)
    assert "".join(piece.raw for piece in pieces) == TRICKY
    assert pieces[-1].tree is not None  # the last statement keeps the comments after it


def test_each_piece_is_one_statement_to_the_server(pg_database_url: str) -> None:
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        for statement in split(TRICKY):
            # prepared: the server takes one statement only (two in one piece would fail)
            conn.execute(statement.raw, prepare=True)
        rows = conn.execute('SELECT id, body, "odd;name" FROM notes ORDER BY id').fetchall()
        two = conn.execute("SELECT two()").fetchone()
    assert rows == [
        (1, "it's; escaped", "a;b"),
        (2, "don't; stop", "dollar; 'quoted'"),
        (3, "X; $$ not the end", "é;ü"),
    ]
    assert two == (2,)


def test_comment_only_and_stray_semicolons_are_not_statements() -> None:
    assert split("-- only a comment\n/* and /* nested */ one */\n") == []
    statements = split("SELECT 1;;\n;SELECT 2;")
    assert [s.code for s in statements] == ["SELECT 1;", "SELECT 2;"]
    assert [s.line for s in statements] == [1, 2]
    assert (
        "".join(p.raw for p in split_pieces("SELECT 1;;\n;SELECT 2;")) == "SELECT 1;;\n;SELECT 2;"
    )


def test_keyword_and_code_skip_nested_comments() -> None:
    (statement,) = split("/* a /* b */ c */ -- d\nCOMMIT /* e */;")
    assert statement.keyword == "COMMIT"
    assert statement.code == "COMMIT ;"
    assert statement.line == 2


def test_offsets_are_characters_not_bytes() -> None:
    text = "-- ééé\nSELECT 'ü';\nSELECT 2;"
    statements = split(text)
    assert [text[s.offset : s.offset + len(s.raw)] for s in statements] == [
        s.raw for s in statements
    ]
    assert [s.line for s in statements] == [2, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1;\nSELEC 2;\n", 'migration.sql:2: syntax error at or near "SELEC"'),
        ("SELECT 1;\n\nSELECT 'open\n", "migration.sql:3: unterminated quoted string"),
        ("SELECT 1;\nSELECT (\n", "migration.sql:2: syntax error at end of input"),
        (
            "SELECT 1;\n\\i other.sql\nSELECT 2;",
            "migration.sql:2: psql meta-command \\i is not SQL; the runner sends statements",
        ),
        (
            "\\set ON_ERROR_STOP on\nSELECT 1;",
            "migration.sql:1: psql meta-command \\set is not SQL",
        ),
        (
            "CREATE TABLE t (a int, b text);\nCOPY t (a, b) FROM stdin;\n1\tx\n2\ty\n\\.\n",
            "migration.sql:3: rows after COPY ... FROM stdin are psql's inline data, not SQL",
        ),
        (
            "CREATE TABLE t (a int);\n\\connect other\n",
            "migration.sql:2: psql meta-command \\connect is not SQL",
        ),
    ],
)
def test_text_the_server_would_not_parse_is_one_line_naming_the_line(
    text: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        split(text, source="migration.sql")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_without_a_source_the_message_names_the_line() -> None:
    with pytest.raises(InputError, match=r"^line 1: syntax error"):
        split("SELEC 1")


# Fragments a migration is made of, including every way a `;` can hide from a naive splitter.
FRAGMENTS = [
    "SELECT 1",
    "SELECT 'a;b'",
    "SELECT E'x\\';y'",
    'SELECT 1 AS "c;d"',
    "SELECT $$ ; $$",
    "SELECT $t$ $$ ; $t$",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
    "-- a; comment\n",
    "/* a /* ; */ b */",
    ";",
    "\n",
    " ",
    "é",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12))
def test_pieces_join_back_to_the_text(fragments: list[str]) -> None:
    text = "".join(fragments)
    try:
        pieces = split_pieces(text)
    except InputError:
        return  # e.g. `é` where a statement should start
    assert "".join(piece.raw for piece in pieces) == text
    for piece in pieces:
        assert text[piece.offset : piece.offset + len(piece.raw)] == piece.raw
    assert split(text) == [piece for piece in pieces if piece.tree is not None]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("SELECT 1;'\"$-/*\\\nEé")), max_size=40))
def test_any_text_splits_back_or_is_one_input_error(text: str) -> None:
    try:
        pieces = split_pieces(text)
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert "".join(piece.raw for piece in pieces) == text
