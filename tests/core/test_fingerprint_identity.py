"""code_fingerprint says "only comments or whitespace changed" exactly when the engine would run
the same tokens: SQLite's tokenizer rules (tokenize.c) for SQLite projects, PostgreSQL's own
scanner (pglast) for PostgreSQL projects. SQLite itself is the oracle where it can be one: a
statement's EXPLAIN program shows what SQLite read."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ci.core.sqltext import code_fingerprint, same_statements
from ci.core.sqltokens import postgresql_tokens, sqlite_tokens

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (applied text, edited text): each edit looks like whitespace, and is not one to the engine
SQLITE_NOT_WHITESPACE = [
    ("INSERT INTO t SELECT 1.e5;", "INSERT INTO t SELECT 1. e5;"),  # a number -> number + alias
    ("INSERT INTO t SELECT x'41' FROM s;", "INSERT INTO t SELECT x '41' FROM s;"),  # blob -> alias
    ("CREATE TABLE t (a int);", "CREATE TABLE t (a\xa0int);"),  # NBSP is an identifier char
    ("SELECT .5;", "SELECT . 5;"),
    ("SELECT a <= b FROM t;", "SELECT a < = b FROM t;"),
    ("SELECT a || b FROM t;", "SELECT a | | b FROM t;"),
    ("SELECT 1abc;", "SELECT 1 abc;"),
    ("SELECT 0x1F;", "SELECT 0 x1F;"),
    ("SELECT a\x0bFROM t;", "SELECT a FROM t;"),  # \v is not whitespace to SQLite's tokenizer
]
POSTGRESQL_NOT_WHITESPACE = [
    ("INSERT INTO t VALUES ($$hello -- world$$);", "INSERT INTO t VALUES ($$hello -- DROP$$);"),
    ("INSERT INTO t VALUES ($f$a /* b */ c$f$);", "INSERT INTO t VALUES ($f$a /* x */ c$f$);"),
    ("INSERT INTO t VALUES (E'\\'' || '-- a');", "INSERT INTO t VALUES (E'\\'' || '-- b');"),
    ("SELECT 1 /* a /* b */ c */, 2;", "SELECT 1 /* a /* b */ c */, 3;"),
]


@pytest.mark.parametrize(("applied", "edited"), SQLITE_NOT_WHITESPACE)
def test_sqlite_edits_that_look_like_whitespace_are_statement_changes(
    applied: str, edited: str
) -> None:
    assert code_fingerprint(applied) != code_fingerprint(edited)
    assert not same_statements(code_fingerprint(applied), edited)


@pytest.mark.parametrize(("applied", "edited"), POSTGRESQL_NOT_WHITESPACE)
def test_postgresql_edits_inside_quotes_are_statement_changes(applied: str, edited: str) -> None:
    code = code_fingerprint(applied, "postgresql")
    assert code != code_fingerprint(edited, "postgresql")
    assert not same_statements(code, edited, "postgresql")


def test_postgresql_comment_and_whitespace_edits_keep_the_fingerprint() -> None:
    applied = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql; /* a /* b */ c */"
    edited = "-- why\nCREATE  FUNCTION f()\n RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;"
    assert code_fingerprint(applied, "postgresql") == code_fingerprint(edited, "postgresql")
    # the dollar-quoted body is data: its spaces count
    spaced = applied.replace("$$ SELECT 1 $$", "$$ SELECT  1 $$")
    assert code_fingerprint(applied, "postgresql") != code_fingerprint(spaced, "postgresql")


def test_text_the_scanner_cannot_read_has_no_twin() -> None:
    assert postgresql_tokens("SELECT 'open") is None
    unscanned = code_fingerprint("SELECT 'open", "postgresql")
    assert unscanned != code_fingerprint("SELECT  'open", "postgresql")
    assert code_fingerprint("SELECT 1;", "mysql") != code_fingerprint("SELECT  1;", "mysql")


def test_fingerprints_of_the_earlier_format_never_say_only_comments() -> None:
    """The value the approximate tokeniser recorded (lock files, schema_version.code_hash) for
    this text: any edit of such a file is now "statements changed", the safe verdict."""
    old = "76e0ef47daed65ef54efcff8e311aecb5f3fb566987fc7e48d43dc9a0fbe443d"
    assert not same_statements(old, "-- why\nCREATE  TABLE t (a);\n")
    assert not same_statements(old[:16], "-- why\nCREATE  TABLE t (a);\n")
    sqlite = code_fingerprint("CREATE TABLE t (a);")
    assert not same_statements(sqlite, "CREATE TABLE t (a);", "postgresql")


def test_the_tokens_are_sqlites() -> None:
    text = "SELECT 1.e5, .5e-3, 0x1F, x'41', [a b], `c`, \"d\"\"\", 'it''s', $v, ?1, a->>b -- c"
    assert sqlite_tokens(text) == [
        "SELECT", "1.e5", ",", ".5e-3", ",", "0x1F", ",", "x'41'", ",", "[a b]", ",", "`c`", ",",
        '"d"""', ",", "'it''s'", ",", "$v", ",", "?1", ",", "a", "->>", "b",
    ]  # fmt: skip


# Expressions SQLite accepts, each a run of tokens where whitespace may or may not go.
ATOMS = [
    "1.e5", "1.", ".5", "0x1F", "x'41'", "X''", "'a  b'", "'it''s'", "\"q r\"", "[s t]", "`u`",
    "1e3", "12", "'é'", "'\xa0'",
]  # fmt: skip
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\t", "\f", "\r\n", "/* c */", "-- c\n", " /**/ "])


def explain(sql: str) -> list[tuple[object, ...]]:
    """The program SQLite compiles `sql` to, without its comments: what it will run."""
    with sqlite3.connect(":memory:") as conn:
        conn.execute('CREATE TABLE t ("q r", "s t", u)')
        return [row[1:] for row in conn.execute("EXPLAIN " + sql)]


@st.composite
def select_and_variant(draw: st.DrawFn) -> tuple[str, str]:
    atoms = draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=6))
    ops = [draw(st.sampled_from([",", "||", "<=", "+"])) for _ in atoms[1:]]
    parts = ["SELECT", atoms[0]]
    for op, atom in zip(ops, atoms[1:], strict=True):
        parts += [op, atom]
    parts += ["FROM", "t"]
    plain = " ".join(parts)
    variant = "".join(p + draw(SEPARATORS) for p in parts)
    return plain, variant


@SETTINGS
@given(select_and_variant())
@example(("SELECT 1.e5 FROM t", "SELECT\n1.e5 -- c\nFROM t"))
def test_whitespace_and_comment_edits_keep_the_verdict(pair: tuple[str, str]) -> None:
    plain, variant = pair
    assert explain(plain) == explain(variant)  # SQLite agrees they are the same statement
    assert code_fingerprint(plain) == code_fingerprint(variant)


@SETTINGS
@given(select_and_variant(), st.data())
@example(("SELECT 'ab' FROM t", "SELECT 'ab' FROM t"), None)
def test_a_single_character_edit_inside_a_literal_is_never_whitespace(
    pair: tuple[str, str], data: st.DataObject | None
) -> None:
    plain, _ = pair
    literals = [t for t in sqlite_tokens(plain) if t[:1] in "'\"[`" or t[:2].lower() == "x'"]
    if not literals:
        return
    literal = literals[0] if data is None else data.draw(st.sampled_from(literals))
    inside = range(2 if literal[:1] in "xX" else 1, len(literal) - 1)
    for at in inside:
        for replacement in (" ", "-", "/", "*", ""):
            edited_literal = literal[:at] + replacement + literal[at + 1 :]
            if edited_literal == literal:
                continue
            edited = plain.replace(literal, edited_literal, 1)
            assert code_fingerprint(edited) != code_fingerprint(plain), edited
    # and a character inserted
    edited = plain.replace(literal, literal[:-1] + "-- " + literal[-1], 1)
    assert code_fingerprint(edited) != code_fingerprint(plain)
