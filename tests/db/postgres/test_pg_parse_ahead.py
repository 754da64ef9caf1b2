"""Parse trees built ahead (ci.db.postgres.parse_ahead): built in the run's order while the
server is busy, within a limit, handed over once to the gate; a file that cannot be split, or
a statement the parser refuses, is left for the run to report as before, nothing raised. And
the run gets a check's statements from the file, where the trees were built."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pglast import ast

from ci.checks.pg_engine import lenient_postgres_split, postgres_split
from ci.core.model import InputError, SqlFile
from ci.db.postgres import statements as statements_module
from ci.db.postgres.execute import statements
from ci.db.postgres.parse_ahead import parse_ahead
from ci.db.postgres.statements import PgStatement, split

GOOD = "CREATE TABLE a (id integer);\n-- between\nINSERT INTO a VALUES (1);\n"
BAD = "CREATE TABLE b (id integer);\nCREATE TABLE c (id integer;\n"


def check_file(tmp_path: Path, name: str, text: str) -> SqlFile:
    """A file as a PostgreSQL check finds it (ci.checks.pg_engine.discover_for's splitter)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return SqlFile(str(path), postgres_split)


def always() -> bool:
    return True


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements the parser is given from here on (the real parser still parses)."""
    given: list[str] = []
    real = statements_module.parse_sql

    def counted(text: str) -> list[ast.RawStmt]:
        given.append(text)
        return real(text)  # type: ignore[no-any-return]

    monkeypatch.setattr(statements_module, "parse_sql", counted)
    yield given


def test_trees_built_ahead_are_handed_to_the_first_ask_only(
    tmp_path: Path, parses: list[str]
) -> None:
    file = check_file(tmp_path, "0001_a.sql", GOOD)
    assert parse_ahead([file], always) == 2
    assert len(parses) == 2
    first = [statement.tree for statement in statements(file)]
    assert len(parses) == 2  # handed over: not parsed again
    assert isinstance(first[0], ast.CreateStmt) and isinstance(first[1], ast.InsertStmt)
    again = [statement.tree for statement in statements(file)]
    assert len(parses) == 4  # not kept: the next ask parses anew, as before
    assert again == first and again[0] is not first[0]


def test_parsing_ahead_stops_once_the_server_is_done(tmp_path: Path) -> None:
    files = [check_file(tmp_path, f"000{n}_a.sql", GOOD) for n in (1, 2)]
    answers = iter([True, True, False])  # busy for the first file's statements only
    assert parse_ahead(files, lambda: next(answers, False)) == 1
    later = files[1]
    assert parse_ahead([later], lambda: False) == 0


def test_parsing_ahead_stops_at_its_limit(tmp_path: Path, parses: list[str]) -> None:
    file = check_file(tmp_path, "0001_a.sql", GOOD)
    first = statements(file)[0]
    assert parse_ahead([file], always, limit=len(first.raw)) == 1
    assert len(parses) == 1


def test_a_file_the_parser_refuses_is_left_for_the_run_and_the_next_parsed(
    tmp_path: Path,
) -> None:
    bad = check_file(tmp_path, "0001_bad.sql", BAD)
    good = check_file(tmp_path, "0002_good.sql", GOOD)
    assert parse_ahead([bad, good], always) == 2  # no error here
    with pytest.raises(InputError) as raised:
        statements(bad)
    with pytest.raises(InputError) as before:  # the message the run gave without parse_ahead
        split(BAD, source=bad.location)
    assert str(raised.value) == str(before.value)
    assert str(raised.value) == f'{bad.location}:2: syntax error at or near ";"'


def test_a_statement_the_parser_refuses_alone_is_left_for_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the splitter parsed the file whole, so each statement parses alone too; if one did not,
    # the gate's own ask would meet the error where it meets it today
    file = check_file(tmp_path, "0001_a.sql", GOOD)
    real = statements_module.parse_sql
    monkeypatch.setattr(statements_module, "parse_sql", refusing(real, "CREATE"))
    assert parse_ahead([file], always) == 1
    with pytest.raises(statements_module.ParseError):
        statements(file)[0].tree  # noqa: B018  # asked as the gate asks it


def refusing(real: Callable[[str], object], word: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        if text.startswith(word):
            raise statements_module.ParseError("refused", 1)
        return real(text)

    return parse


def test_a_check_file_gives_the_run_its_own_statements(tmp_path: Path) -> None:
    file = check_file(tmp_path, "0001_a.sql", GOOD)
    assert statements(file) is file.statements  # split once, where the trees were built


def test_files_split_otherwise_are_split_as_the_server_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "0001_a.sql"
    path.write_text(GOOD, encoding="utf-8")
    for file in (SqlFile(str(path)), SqlFile(str(path), lenient_postgres_split)):
        found = statements(file)
        assert [s.raw for s in found] == [s.raw for s in split(GOOD)]
        assert all(isinstance(s, PgStatement) for s in found)
    path.write_text(BAD, encoding="utf-8")  # lint's splitter falls back to SQLite's rules
    lenient = SqlFile(str(path), lenient_postgres_split)
    assert lenient.statements and not isinstance(lenient.statements[0], PgStatement)
    with pytest.raises(InputError, match=":2: syntax error"):
        statements(lenient)
