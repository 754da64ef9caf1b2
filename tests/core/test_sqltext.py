from __future__ import annotations

import sqlite3

import pytest

from ci.core.sqltext import (
    checksum,
    checksum_matches,
    code_fingerprint,
    raw_sha256,
    split_pieces,
    split_statements,
    strip_comments,
)

TRIGGER = """CREATE TRIGGER stamp AFTER INSERT ON vitals
BEGIN
    UPDATE vitals SET note = 'a;b' WHERE rowid = new.rowid;
    INSERT INTO audit VALUES (';');
END;"""


def test_trigger_body_is_one_statement() -> None:
    pieces = split_statements(TRIGGER + "\nSELECT 1;")
    assert [p.keyword for p in pieces] == ["CREATE", "SELECT"]
    assert pieces[0].sql == TRIGGER
    assert pieces[1].line == 6


def test_semicolons_in_strings_comments_and_identifiers() -> None:
    text = "INSERT INTO t VALUES (';');\n-- a; b\n/* c; d */ SELECT \"x;y\", [p;q], `r;s` FROM t;\n"
    pieces = split_statements(text)
    assert len(pieces) == 2
    assert pieces[1].line == 3
    assert pieces[1].code == 'SELECT "x;y", [p;q], `r;s` FROM t;'


def test_several_statements_on_one_line_keep_the_line() -> None:
    pieces = split_statements("BEGIN; ALTER TABLE p ADD COLUMN e TEXT NULL; COMMIT;")
    assert [(p.keyword, p.line) for p in pieces] == [("BEGIN", 1), ("ALTER", 1), ("COMMIT", 1)]


def test_line_of_statement_skips_leading_comments() -> None:
    pieces = split_statements("-- header\n\n/* block\n*/\nCREATE TABLE t (a);\n")
    assert pieces[0].line == 5


def test_trailing_statement_without_semicolon_and_trailing_comment() -> None:
    assert [p.sql for p in split_statements("SELECT 1;\nSELECT 2")] == ["SELECT 1;", "SELECT 2"]
    assert len(split_statements("SELECT 1;\n-- done\n")) == 1


@pytest.mark.parametrize(
    "text",
    [TRIGGER, "SELECT 1;\r\nSELECT ';';", "-- only a comment", "", "a; b; ;", "'unterminated; x"],
)
def test_pieces_rejoin_to_the_original(text: str) -> None:
    assert "".join(p.raw for p in split_pieces(text)) == text


def test_every_piece_with_a_semicolon_is_complete_for_sqlite() -> None:
    for piece in split_pieces(TRIGGER + "\nSELECT 'x;';"):
        assert sqlite3.complete_statement(piece.raw)


def test_strip_comments_keeps_strings_and_lines() -> None:
    assert strip_comments("SELECT '--not' -- yes\n/* a\nb */ 1") == "SELECT '--not'  \n\n 1"


def test_checksum_ignores_bom_and_line_endings_only() -> None:
    lf = b"CREATE TABLE t (a);\nSELECT 1;\n"
    assert checksum(lf) == checksum(b"\xef\xbb\xbf" + lf.replace(b"\n", b"\r\n"))
    assert checksum(lf) == checksum(lf.replace(b"\n", b"\r"))
    assert checksum(lf) != checksum(lf.replace(b"\n", b" \n"))
    assert checksum(lf).startswith("v1:")


def test_checksum_matches_ours_and_other_tools_raw_sha256() -> None:
    data = b"SELECT 1;\r\n"
    assert checksum_matches(checksum(data), data)
    assert checksum_matches(raw_sha256(data), data)
    assert checksum_matches(raw_sha256(data).upper(), data)
    assert not checksum_matches(raw_sha256(b"SELECT 2;"), data)
    assert not checksum_matches("v1:" + raw_sha256(data), b"SELECT 2;")


def test_code_fingerprint_tells_whitespace_and_comment_edits_from_statement_edits() -> None:
    original = "CREATE TABLE t (a);\n"
    assert code_fingerprint(original) == code_fingerprint("-- why\nCREATE  TABLE t\n  (a);")
    assert code_fingerprint(original) != code_fingerprint("CREATE TABLE t (b);")


def test_a_directive_is_part_of_the_code_fingerprint() -> None:
    # `-- @word` lines before the first statement change how the file runs: not a comment edit
    original = "-- the table\nCREATE TABLE t (a);\n"
    for directive in ("-- @no-transaction", "-- @batch 500", "-- @irreversible drops data"):
        assert code_fingerprint(original) != code_fingerprint(f"{directive}\n{original}")
    batch = "-- @batch 500\nUPDATE t SET a = 1;\n"
    assert code_fingerprint(batch) != code_fingerprint(batch.replace("500", "50"))
    assert code_fingerprint(batch) == code_fingerprint(
        "--   @batch   500 \n-- why\nUPDATE t SET a=1;"
    )
    # after the first statement the same text is only a comment
    assert code_fingerprint(original) == code_fingerprint(original + "-- @no-transaction\n")


def test_a_file_keeps_its_recorded_fingerprint() -> None:
    # the v2 value recorded (lock files, schema_version.code_hash): a change of the format must
    # be deliberate (an earlier format's values then never match, tests/core/
    # test_fingerprint_identity.py)
    assert code_fingerprint("-- why\nCREATE  TABLE t (a);\n") == (
        "ede12152bff5d911985db5fd8c549e0d55a6472743a37dacec04a7a8886e8f7b"
    )
