"""ci.db.invariants: the file format read by postcheck and the database checks (the errors of a
bad file are in tests/checks/test_postcheck.py), and the option every one of them declares."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ci.checks.options import INVARIANTS
from ci.core.model import InputError
from ci.db.invariants import Invariant, parse_invariants


def parsed(tmp_path: Path, text: str) -> list[Invariant]:
    path = tmp_path / "invariants.sql"
    path.write_text(text, encoding="utf-8")
    return parse_invariants(path)


def test_every_query_keyword_is_accepted(tmp_path: Path) -> None:
    text = (
        "-- invariant: select\nSELECT 1 WHERE 0;\n"
        "-- invariant: with\nWITH x AS (SELECT 1) SELECT * FROM x WHERE 0;\n"
        "-- invariant: values\nVALUES (1);\n"
        "-- invariant: pragma\nPRAGMA foreign_key_check;\n"
    )
    assert [(i.name, i.line) for i in parsed(tmp_path, text)] == [
        ("select", 2),
        ("with", 4),
        ("values", 6),
        ("pragma", 8),
    ]


def test_markers_are_read_in_any_case_and_spacing_and_names_keep_dots_dashes_spaces(
    tmp_path: Path,
) -> None:
    text = "  --Invariant :  one-per.key x  \nSELECT 1;\n--INVARIANT: b_2\nSELECT 2;\n"
    assert [i.name for i in parsed(tmp_path, text)] == ["one-per.key x", "b_2"]


def test_comments_before_the_first_marker_are_no_sql_and_a_query_starts_at_its_token(
    tmp_path: Path,
) -> None:
    text = (
        "-- Invariants of the ward database.\n"
        "/* kept short */\n"
        "\n"
        "-- invariant: late\n"
        "\n"
        "-- why this matters\n"
        "SELECT id\n"
        "  FROM t;\n"
    )
    (only,) = parsed(tmp_path, text)
    assert (only.name, only.line) == ("late", 7)  # the line of SELECT itself, not of the comment
    assert only.sql == "-- why this matters\nSELECT id\n  FROM t;"  # as written, run as one


def test_a_query_without_its_semicolon_is_still_one_query(tmp_path: Path) -> None:
    (only,) = parsed(tmp_path, "-- invariant: a\nSELECT 1 WHERE 0\n")
    assert (only.sql.rstrip(";"), only.line) == ("SELECT 1 WHERE 0", 2)


def test_invariants_are_plain_comparable_records() -> None:
    assert Invariant("a", "SELECT 1;", 2) == Invariant(name="a", sql="SELECT 1;", line=2)
    assert Invariant("a", "SELECT 1;", 2) != Invariant("a", "SELECT 1;", 3)
    assert len({Invariant("a", "SELECT 1;", 2), Invariant("a", "SELECT 1;", 2)}) == 1
    assert repr(Invariant("a", "S", 1)) == "Invariant(name='a', sql='S', line=1)"


def test_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere\.sql"):
        parse_invariants(tmp_path / "nowhere.sql")


def test_the_option_is_a_path_defaulting_to_none() -> None:
    parser = argparse.ArgumentParser()
    INVARIANTS.add_to(parser)  # the option every check that takes invariants declares
    assert parser.parse_args([]).invariants is None
    assert parser.parse_args(["--invariants", "schema/inv.sql"]).invariants == Path(
        "schema/inv.sql"
    )
    assert "--invariants FILE" in parser.format_help()
