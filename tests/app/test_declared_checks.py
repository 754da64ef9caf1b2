"""The app layer works from what each check declares (ci/checks/base.py): parsers, config keys,
the aggregate parser of `python -m ci`, and hooks that parse their arguments once."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ci.app import cli, parsers, registry, run_all
from ci.checks.base import Check
from ci.checks.options import Option
from ci.core.findings import Report
from hooks import numbering as numbering_hook
from tests.conftest import WriteTree

M = "schema/migrations"
TREE = {
    f"{M}/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;\n",
}


def every_check() -> dict[str, Check]:
    return registry.declared(registry.CHECKS + registry.DATABASE_CHECKS)


def test_every_check_is_declared_under_its_own_name() -> None:
    checks = every_check()
    assert list(checks) == [*registry.CHECKS, *registry.DATABASE_CHECKS]
    for name, check in checks.items():
        assert check.name == name
        assert check.description
        assert all(isinstance(option, Option) for option in check.options)


def test_a_checks_parser_has_exactly_its_declared_options() -> None:
    common = {a.dest for a in parsers.check_parser("x", None)._actions}
    for check in every_check().values():
        dests = {a.dest for a in parsers.parser_of(check)._actions}
        declared = {option.dest for option in check.options}
        expected = declared | (common if check.reads_migrations else {"help", "config"})
        assert dests == expected, check.name


def test_config_keys_are_the_declared_options() -> None:
    keys = cli.known_keys()
    for check in every_check().values():
        assert check.config_keys <= keys
    assert {"checks", "migrations_dir", "expect_version", "precheck", "lint"} <= keys


def test_python_m_ci_takes_every_declared_option_once_and_passes_only_what_is_given() -> None:
    checks = registry.declared()
    parser = run_all.build_parser(checks, None)
    flags = [flag for action in parser._actions for flag in action.option_strings]
    assert len(flags) == len(set(flags))
    for check in checks.values():
        for option in check.options:
            assert set(option.flags) <= set(flags)
    given = vars(parser.parse_args(["--base-ref", "origin/main"]))
    assert given["base_ref"] == "origin/main"
    assert "sample" not in given and "jobs" not in given  # not given: each check's own default


def test_run_one_runs_the_declaration_and_narrow_sees_the_options_first(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(TREE)
    seen: list[str] = []

    def narrow(args: argparse.Namespace) -> None:
        seen.append("narrow")
        args.files = []  # a FILE outside the migrations still runs the whole check

    def run(args: argparse.Namespace) -> Report:
        seen.append(f"run {args.greeting}")
        return Report.from_findings("demo", [], passed="fine")

    demo = Check("demo", "A demo.", (Option("--greeting", default="hi"),), run, narrow=narrow)
    assert cli.run_one(demo, ["--migrations-dir", str(root / M), str(root / "README.md")]) == 0
    assert seen == ["narrow", "run hi"]
    assert "OK demo" in capsys.readouterr().out


def test_a_hook_parses_its_arguments_once(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(TREE)
    monkeypatch.chdir(root)
    calls: list[Sequence[str] | None] = []
    real_parse = cli.parse

    def counting_parse(parser: argparse.ArgumentParser, argv: Any, *rest: Any) -> Any:
        calls.append(argv)
        return real_parse(parser, argv, *rest)

    monkeypatch.setattr(cli, "parse", counting_parse)
    changed = str(Path(M) / "schema" / "0001_init.sql")
    assert numbering_hook.main([changed]) == 0
    assert calls == [[changed]]
    assert "OK numbering" in capsys.readouterr().out
