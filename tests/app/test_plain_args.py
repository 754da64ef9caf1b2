"""ci.migrate reads a plain command line without building its parser (ci.app.plain_args): the
options it gives are the parser's, option for option, and every other line goes to the parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from ci.app import cli, parsers
from ci.app import migrate_options as migrate
from ci.app.plain_args import plain_args
from ci.app.registry import CHECKS, DATABASE_CHECKS, declared
from ci.checks.base import Check

PLAIN = [
    ["--db", "app.db"],
    ["--db", "app.db", "--status"],
    ["--db", "app.db", "--no-backup"],
    ["--migrations-dir", "db/migrations", "--db", "app.db", "--no-backup"],
    ["--db", "a.db", "--db", "b.db", "--status", "--status"],  # the last value wins, as parsed
    ["--db", "", "--status", "--detect", "--verify"],
    ["--db", "app.db", "--dry-run", "--group", "--allow-changed", "--verify"],
    ["--db", "app.db", "--resume", "--group", "--no-backup"],
    ["--db", "x y.db", "--migrations-dir", "with space"],
    ["--db", "app.db", "--status", "--format", "json"],
    ["--db", "app.db", "--format", "github", "--format", "text"],
]
NOT_PLAIN = [
    [],  # --db is required: the parser says so
    ["--status"],
    ["--help"],
    ["-h"],
    ["--db=app.db"],
    ["--db"],
    ["--db", "-app.db"],  # a value that looks like an option
    ["--db", "app.db", "--stat"],  # no guessing from the first letters
    ["--db", "app.db", "--rollback", "2"],
    ["--db", "app.db", "--backup", "b.db"],
    ["--db", "app.db", "--config", "other.yaml"],
    ["--db", "app.db", "--", "--status"],
    ["--db", "app.db", "extra"],
    ["--db", "app.db", "--status", "--resume"],  # refused: the parser words the refusal
    ["--db", "app.db", "--detect"],
    ["--db", "app.db", "--status", "--group"],
    ["--db", "app.db", "--format", "xml"],  # not a format: the parser says so
]


def plain(argv: list[str]) -> dict[str, object] | None:
    found = plain_args(
        argv,
        flags=migrate.PLAIN_FLAGS,
        values=migrate.PLAIN_VALUES,
        defaults=migrate.DEFAULTS,
        required=("db",),
    )
    return None if found is None else vars(found)


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_a_plain_line_gives_what_the_parser_gives(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no migration-guard.yaml here
    parsed = vars(cli.parse(migrate.build_parser(), argv))
    assert plain(argv) == parsed
    assert vars(migrate.parse_args(argv)) == parsed


def outcome(read: Callable[[], object], capsys: pytest.CaptureFixture[str]) -> object:
    """The options read, or the exit code and what was printed."""
    try:
        return vars(read())
    except SystemExit as stop:
        return stop.code, capsys.readouterr()


def by_the_parser(argv: list[str]) -> argparse.Namespace:
    """What ci.migrate did before plain lines: the parser, then the refused combinations."""
    parser = migrate.build_parser()
    args = cli.parse(parser, argv)
    problem = migrate.combination_problem(args, lambda: True)
    if problem is not None:
        parser.error(problem)
    return args


@pytest.mark.parametrize("argv", NOT_PLAIN, ids=" ".join)
def test_any_other_line_goes_to_the_parser(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    found = plain(argv)
    assert (
        found is None
        or found["output_format"] not in migrate.FORMATS
        or migrate.combination_problem(SimpleNamespace(**found), lambda: True)
    )
    expected = outcome(lambda: by_the_parser(argv), capsys)
    assert outcome(lambda: migrate.parse_args(argv), capsys) == expected


def test_a_config_file_is_merged_by_the_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migration-guard.yaml").write_text("warn_slow: 5\n", encoding="utf-8")
    assert plain(["--db", "app.db"]) is None
    args = migrate.parse_args(["--db", "app.db"])
    assert args.warn_slow == 5.0 and args.set_in_config == {
        "warn_slow": "migration-guard.yaml: warn_slow"
    }


def test_every_option_of_the_parser_has_its_plain_default() -> None:
    """An option added to the parser and not here would be missing from a plain line's options."""
    parser = migrate.build_parser()
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert dests == set(migrate.DEFAULTS)
    for action in parser._actions:
        if action.dest != "help" and action.dest != "migrations_dir":
            assert migrate.DEFAULTS[action.dest] == action.default, action.dest
    for option, dest in migrate.PLAIN_FLAGS.items():
        assert parser._option_string_actions[option].dest == dest
    for option, (dest, _) in migrate.PLAIN_VALUES.items():
        assert parser._option_string_actions[option].dest == dest


def check_lines(check: Check) -> list[list[str]]:
    flags = [
        flag
        for option in check.options
        if option.kwargs.get("action") == "store_true"
        for flag in option.flags
    ]
    return [
        [],
        ["--migrations-dir", "db/migrations"],
        *[["--migrations-dir", "m", f] for f in flags],
    ]


@pytest.mark.parametrize("name", CHECKS + DATABASE_CHECKS)
def test_a_checks_plain_line_gives_what_its_parser_gives(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check = declared((name,))[name]
    for argv in check_lines(check):
        found = parsers.plain_check_args(check, argv)
        if found is not None:
            assert vars(found) == vars(cli.parse(parsers.parser_of(check), argv)), argv
    if name in ("numbering", "checksums"):  # the budgeted ones are read plainly
        assert parsers.plain_check_args(check, ["--migrations-dir", "m"]) is not None


def test_a_checks_other_lines_go_to_its_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check = declared(("checksums",))["checksums"]
    for argv in (["a.sql"], ["--lock", "x.lock"], ["--migrations-dir=m"], ["--help"], ["--bogus"]):
        assert parsers.plain_check_args(check, argv) is None, argv
    (tmp_path / "migration-guard.yaml").write_text("checksums:\n  update: true\n")
    assert parsers.plain_check_args(check, []) is None
