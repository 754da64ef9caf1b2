"""Command-line parsers, built from what each check declares (`ci.checks.base.Check`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ci import reports
from ci.app import exits
from ci.app.config import DEFAULT_CONFIG
from ci.app.plain_args import plain_args
from ci.checks import options
from ci.checks.base import Check
from ci.core import fixes
from ci.core.model import DEFAULT_MIGRATIONS_DIR

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn


class ArgumentParser(argparse.ArgumentParser):
    """The parser of every command: an argument error is one line and a hint, not the whole
    usage, and an option is never guessed from its first letters (`--migrations` is not
    `--migrations-dir`: a guess that a later option makes ambiguous would break scripts).

    `module` is the command's `python -m` module (`ci.numbering`): its last part names the
    config file's section the command reads, and the usage line names the command the user
    typed for it (`typed_command`)."""

    def __init__(self, *args: Any, module: str, **kwargs: Any) -> None:
        kwargs.setdefault("prog", typed_command(module))
        kwargs["description"] = opened_as_typed(kwargs.get("description"), module, kwargs["prog"])
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.module = module

    def error(self, message: str) -> NoReturn:
        self.exit(
            exits.COULD_NOT_RUN,
            f"{self.prog}: error: {message}\n  (the options: {self.prog} --help)\n",
        )


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, given the terminal width as shutil would find it, without importing
    shutil (and with it zlib, bz2 and lzma): argparse makes a formatter for every add_argument,
    so every command paid ~1 ms of start-up for a width that only --help uses."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        width = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def typed_command(module: str) -> str:
    """The command the user typed to run `module` (`ci.numbering`), which usage lines and
    argument errors name, so that its `--help` is the one they can type: under the console
    script `migration-guard`, `migration-guard numbering`; under a hook's console script
    (`migration-guard-numbering`, what pre-commit runs), that script, as argparse itself names
    a program; else `python -m ci.numbering`. (ci.core.fixes tells the console the same way.)"""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    if program == fixes.CONSOLE:
        return f"{program} {console_command(module)}"
    if program.startswith(f"{fixes.CONSOLE}-"):
        return program
    return f"python -m {module}"


def opened_as_typed(description: str | None, module: str, prog: str) -> str | None:
    """A description that opens with the `python -m` form (a face's docstring: "`python -m
    ci.lint [FILES...]` lints ...") opens with the command typed instead, as the usage does."""
    python_m = f"`python -m {module}"
    if description is None or not description.startswith(python_m):
        return description
    rest = description[len(python_m) :]
    if rest[:1] not in ("`", " "):
        return description  # another module's name that starts alike
    # python -m ci's opens "`python -m ci` (`migration-guard check`)": said once is enough
    return f"`{prog}{rest}".replace(f" (`{prog}`)", "")


def console_command(module: str) -> str:
    """The `migration-guard` command that runs `module` (ci.__main__.COMMANDS has them all)."""
    if module == "ci":
        return "check"
    name = module.rsplit(".", 1)[-1]
    return fixes.CONSOLE_NAMES.get(name, name.replace("_", "-"))


def section_of(parser: argparse.ArgumentParser) -> str:
    """The config section `parser`'s command reads: `numbering` of `ci.numbering` (of a plain
    argparse parser, its prog's last part: `python -m ci.demo`)."""
    module = parser.module if isinstance(parser, ArgumentParser) else parser.prog
    return module.rsplit(".", 1)[-1]


def check_parser(
    check: str, description: str | None, *, module: str | None = None
) -> argparse.ArgumentParser:
    """The options every check takes; `module`: the command's, when it is not `ci.<check>`."""
    parser = ArgumentParser(module=module or f"ci.{check}", description=description)
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="changed files (from pre-commit); the check returns 0 at once "
        "when none is a migration",
    )
    add_migrations_dir(parser)
    add_config(parser)
    parser.add_argument("--junit", type=Path, default=None, help="write a JUnit XML report here")
    parser.add_argument(
        "--format",
        choices=reports.FORMATS,
        default=None,
        help="output format (default: github when GITHUB_ACTIONS=true, else text)",
    )
    return parser


def parser_of(check: Check) -> argparse.ArgumentParser:
    """The parser of `python -m ci.<check>`: the common options, then the check's own."""
    if check.reads_migrations:
        parser = check_parser(check.name, check.description)
    else:  # precheck, postcheck: a database, no migrations; the config file all the same
        parser = ArgumentParser(module=f"ci.{check.name}", description=check.description)
        add_config(parser)
    options.add_all(parser, check.options)
    return parser


def add_config(parser: argparse.ArgumentParser) -> None:
    """`--config FILE`: every command that reads the config file can be pointed at another."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"config file (default: {DEFAULT_CONFIG} if present)",
    )


def add_migrations_dir(parser: argparse.ArgumentParser, *, default: Path | None = None) -> None:
    """`--migrations-dir DIR`: the migrations root (every command that reads migrations)."""
    options.migrations_dir(default=default).add_to(parser)


def add_busy_timeout(parser: argparse.ArgumentParser, *, default: float, help: str) -> None:
    """`--busy-timeout SECONDS` (see `ci.checks.options.busy_timeout`)."""
    options.busy_timeout(default=default, help=help).add_to(parser)


def add_statement_timeout(
    parser: argparse.ArgumentParser, *, default: float | None, help: str
) -> None:
    """`--statement-timeout SECONDS` (see `ci.checks.options.statement_timeout`)."""
    options.statement_timeout(default=default, help=help).add_to(parser)


# What check_parser's options are when none is given (`files` as argparse gives an empty
# `nargs="*"`; the migrations directory as ci.app.cli.parse fills it in).
COMMON_DEFAULTS = {
    "files": [],
    "migrations_dir": Path(DEFAULT_MIGRATIONS_DIR),
    "config": None,
    "junit": None,
    "format": None,
}


def plain_check_args(check: Check, argv: Sequence[str] | None) -> argparse.Namespace | None:
    """The options of `python -m ci.<check>` from a plain command line (ci.app.plain_args):
    --migrations-dir and the check's store-true flags, without building the parser. None for
    any other line, and for a check with an option whose default argparse would have to work
    out (a required one, another action, a string default it converts)."""
    if not check.reads_migrations:
        return None
    defaults: dict[str, object] = {**COMMON_DEFAULTS, "files": []}
    flags: dict[str, str] = {}
    for option in check.options:
        kwargs = option.kwargs
        action = kwargs.get("action")
        if kwargs.get("required") or "nargs" in kwargs or action not in (None, "store_true"):
            return None
        default = kwargs.get("default", False if action == "store_true" else None)
        if isinstance(default, str):
            return None  # argparse passes a string default through the option's type
        defaults[option.dest] = default
        if action == "store_true":
            flags.update(dict.fromkeys(option.flags, option.dest))
    values = {"--migrations-dir": ("migrations_dir", Path)}
    found = plain_args(argv, flags=flags, values=values, defaults=defaults, required=())
    return None if found is None else argparse.Namespace(**vars(found))
