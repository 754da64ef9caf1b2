"""What every check's face shares: parsing over the config file, the FILES shortcut, running
one check and turning what went wrong into one line and an exit code.

The convention every face `ci/<check>.py` follows (and `python -m ci` relies on): the check is
declared in `ci/checks/<check>.py` as a `Check` (name, description, options, run), and the face
is only

    def main(argv: Sequence[str] | None = None) -> int:
        return run_one(CHECK, argv)

`run` returns a `Report` and prints nothing: `run_check` prints, writes JUnit / GitHub files and
turns `InputError` / `UsageError` into one line on stderr and exit 2, and a crash into an <error>
case. `python -m ci` parses and runs each check with a `Collector` handed over explicitly: the
shared options come from the aggregate run, and the Report is collected instead of printed, so
all checks end up in ONE process and ONE JUnit file.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ci import reports
from ci.app import config, exits
from ci.app.config import ConfigError
from ci.app.parsers import (
    ArgumentParser,
    add_busy_timeout,
    add_migrations_dir,
    add_statement_timeout,
    check_parser,
    parser_of,
    plain_check_args,
    section_of,
)
from ci.app.program import reader_may_leave, run_program
from ci.app.registry import (
    CHECKS,
    DATABASE_CHECKS,
    ENGINE_INDEPENDENT,
    RUNNER_KEYS,
    SECTIONS,
    declared,
)
from ci.app.server_errors import server_stopped
from ci.checks.base import Check
from ci.checks.options import (
    ascii_only,
    migration_number,
    seconds,
    time_limit,
    whole_number,
)
from ci.core.errors import UsageError
from ci.core.extra import POSTGRESQL_EXTRA, missing_extra
from ci.core.findings import Case, Report
from ci.core.model import DEFAULT_MIGRATIONS_DIR, InputError

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any

# What the faces, hooks and ci.migrate import from here (some of it lives in the modules above).
__all__ = [
    "CHECKS",
    "ArgumentParser",
    "Collector",
    "add_busy_timeout",
    "add_migrations_dir",
    "add_statement_timeout",
    "ascii_only",
    "check_parser",
    "check_parsers",
    "known_keys",
    "migration_number",
    "parse",
    "parser_of",
    "reader_may_leave",
    "refuse_unsafe_junit",
    "run_check",
    "run_declared",
    "run_one",
    "run_program",
    "say",
    "seconds",
    "time_limit",
    "touches_migrations",
    "whole_number",
]


class Collector:
    """An aggregate run (`python -m ci`): options shared by all checks, reports collected.

    A plain class: a dataclass here would make every check import `dataclasses` (~12 ms), and
    the performance budgets (docs/design.md) cover numbering's and checksums' whole process.
    """

    def __init__(
        self,
        overrides: Mapping[str, Any] | None = None,
        config: Path | None = None,
        reports: list[Report] | None = None,
        prog: str | None = None,
    ) -> None:
        self.overrides: Mapping[str, Any] = {} if overrides is None else overrides
        self.config = config
        # the command the user typed (`migration-guard check`): a config error is about the
        # whole run, so it names that command, not the check whose section holds the typo
        self.prog = prog
        self.reports: list[Report] = [] if reports is None else reports
        # (check, message) of each check that could not run, said once at the end: several
        # checks often fail for one reason (a missing directory, a bad config value)
        self.errors: list[tuple[str, str]] = []


def run_one(check: Check, argv: Sequence[str] | None) -> int:
    """`python -m ci.<check>`: parse over the config file, run, print, exit code. A plain
    command line is read without building the parser (ci.app.plain_args)."""
    args = plain_check_args(check, argv) or parse(parser_of(check), argv)
    return run_declared(check, args)


def run_declared(check: Check, args: argparse.Namespace, collector: Collector | None = None) -> int:
    """Run `check` on options parsed already (the FILES shortcut first)."""
    if check.narrow is not None:
        check.narrow(args)
    return run_check(check.name, args, check.run, collector)


def parse(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    collector: Collector | None = None,
) -> argparse.Namespace:
    """Parse arguments over the config file; errors exit 2 with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from_config = apply_config(parser, argv, collector)
    except ConfigError as error:
        typed = collector.prog if collector is not None and collector.prog else parser.prog
        say(typed, str(error), collector)
        raise SystemExit(exits.COULD_NOT_RUN) from None
    args = parser.parse_args(argv)
    command_line_replaces_lists(parser, args, from_config)
    if "migrations_dir" in vars(args) and args.migrations_dir is None:
        args.migrations_dir = Path(DEFAULT_MIGRATIONS_DIR)
    args.set_in_config = {
        dest: origin
        for dest, (value, origin) in from_config.items()
        if getattr(args, dest, None) == value  # not replaced on the command line
    }
    refuse_unsafe_junit(parser.prog, args)
    return args


def command_line_replaces_lists(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    from_config: dict[str, tuple[Any, str]],
) -> None:
    """An option that collects a list (`--exclude-rules`) appends to its default, the config's
    list; given on the command line, it replaces that list, as every other flag wins over the
    file (and as `python -m ci` passes it on). Not given, the value IS the default object."""
    for action in parser._actions:
        if not isinstance(action, argparse._AppendAction) or action.dest not in from_config:
            continue
        value = getattr(args, action.dest, None)
        default = action.default
        if isinstance(value, list) and isinstance(default, list) and value is not default:
            setattr(args, action.dest, value[len(default) :])


def say(check: str, message: str, collector: Collector | None = None) -> None:
    """One line on stderr for a check that could not run; inside `python -m ci` it is said at
    the end, once for every check that gave the same reason."""
    if collector is not None:
        collector.errors.append((check, message))
    else:
        print(f"{check}: {message}", file=sys.stderr)


def named_in_config(message: str, args: argparse.Namespace) -> str:
    """`message`, led by the config file and key when it is about a value that came from the
    config file: a bad path there must be found in the file, not on a command line."""
    for dest, origin in getattr(args, "set_in_config", {}).items():
        value = getattr(args, dest, None)
        if isinstance(value, (str, Path)) and str(value) and message.startswith(f"{value}:"):
            return f"{origin}: {message}"
    return message


def refuse_unsafe_junit(prog: str, args: argparse.Namespace) -> None:
    """Exit 2 with one line, before any work, when --junit would overwrite a file that is not a
    report (the database, a sample, a migration): the check has not run and nothing changed."""
    junit = getattr(args, "junit", None)
    if junit is None:
        return
    problem = reports.junit_refusal(
        junit,
        inputs=(getattr(args, "db", None), getattr(args, "sample", None)),
        migrations_dir=getattr(args, "migrations_dir", None),
    )
    if problem is not None:
        print(f"{prog}: {problem}", file=sys.stderr)
        raise SystemExit(exits.COULD_NOT_RUN)


def apply_config(
    parser: argparse.ArgumentParser, argv: Sequence[str], collector: Collector | None = None
) -> dict[str, tuple[Any, str]]:
    """Config values (and an aggregate run's options) become the parser's defaults. Returns
    the config file's values: {dest: (value, "FILE: key")}."""
    if collector is not None:  # `python -m ci` found the file (or was given --config) already
        path = config.explicit_path(argv) or collector.config
    else:
        path = config.config_path(argv)
    values: dict[str, Any] = {}
    check = section_of(parser)
    wanted = collector.overrides.get("engine") if collector is not None else None
    named_in = None if wanted else path  # the command line's --engine wins over the file
    if path is not None:
        loaded = config.load(path)
        values = config.parser_values(
            parser,
            check,
            loaded,
            path,
            sections=SECTIONS,
            known_elsewhere=known_keys,
            runner_keys=RUNNER_KEYS.get(check, ()),
        )
        if check in RUNNER_KEYS:
            parser.set_defaults(runner_limits=config.runner_values(loaded, RUNNER_KEYS[check]))
        wanted = wanted or config.engine_named(loaded, check)
    refuse_engine(parser, check, wanted, named_in)
    if wanted is not None:  # ci.migrate refuses --db on a PostgreSQL project
        parser.set_defaults(project_engine=wanted)
    from_config = {dest: (value, f"{path}: {dest}") for dest, value in values.items()}
    if collector is not None:
        dests = {a.dest for a in parser._actions}
        overrides = {k: v for k, v in collector.overrides.items() if k in dests}
        values.update(overrides)
        for dest in overrides:
            from_config.pop(dest, None)
    for action in parser._actions:
        if action.dest in values:
            action.required = False  # the config supplies it
    parser.set_defaults(**values)
    return from_config


def refuse_engine(
    parser: argparse.ArgumentParser, check: str, engine: object, path: Path | None
) -> None:
    """A ConfigError when the project's engine is not SQLite and the check cannot run on it
    yet (it takes no --engine and judges more than files): it would otherwise check the
    migrations on SQLite and pass or fail for the wrong engine."""
    if engine in (None, "sqlite") or check not in CHECKS or check in ENGINE_INDEPENDENT:
        return  # not a check (ci.migrate, ci.new: the engine is their database's), or any engine
    if any(action.dest == "engine" for action in parser._actions):
        return
    where = f"{path}: engine: " if path is not None else "--engine "
    raise ConfigError(f"{where}{engine}: not available on {engine} in this version (SQLite only)")


def check_parsers(names: Sequence[str] = CHECKS) -> dict[str, argparse.ArgumentParser]:
    """Each available check's parser, built from its declaration."""
    return {name: parser_of(check) for name, check in declared().items() if name in names}


def known_keys() -> set[str]:
    """Every key a config file may hold: the options of all checks, `checks`, the sections."""
    keys = {"checks", *SECTIONS}
    keys.add("pr_comment")  # python -m ci's own too: the comment file, read by no check
    keys.update(("sarif", "codequality"))  # python -m ci's report files (ci.app.run_all)
    keys.add("if_server_reachable")  # python -m ci's own (ci.app.server_probe)
    keys.update(a.dest for a in check_parser("ci", None)._actions if a.option_strings)
    for check in declared(CHECKS + DATABASE_CHECKS).values():
        keys.update(check.config_keys)
    for runner_keys in RUNNER_KEYS.values():  # a check reads them there, as ci.migrate does
        keys.update(runner_keys)
    return keys


def touches_migrations(files: Sequence[Path], migrations_dir: Path | None) -> bool:
    """Whether any of FILES is under the migrations directory (or no FILES were given): where
    its name is, as the runner lists names, not where a symlink leads."""
    if not files or migrations_dir is None:
        return True
    root = migrations_dir.resolve()
    folders = (Path(f).parent.resolve() for f in files)
    return any(root == folder or root in folder.parents for folder in folders)


def run_check(
    check: str,
    args: argparse.Namespace,
    work: Callable[[argparse.Namespace], Report],
    collector: Collector | None = None,
) -> int:
    """Run `work`, print and write its report; user errors become one line and exit 2. With a
    `collector` (`python -m ci`), the report is collected instead and nothing is printed."""
    if not touches_migrations(getattr(args, "files", []), getattr(args, "migrations_dir", None)):
        if collector is not None:
            skipped = Case("no migration among the files", check, skipped="no migration changed")
            collector.reports.append(Report(check, [skipped]))
        return exits.CLEAN
    started = time.perf_counter()
    try:
        report = work(args)
        report.time = time.perf_counter() - started
    except KeyboardInterrupt:
        if collector is not None:
            raise  # `python -m ci` stops every check, not just this one
        print(f"{check}: interrupted", file=sys.stderr)
        return exits.INTERRUPTED
    except (InputError, UsageError) as error:
        message = named_in_config(str(error), args)
        say(check, message, collector)
        return _could_not_run(check, message, args, collector)
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in POSTGRESQL_EXTRA:
            raise
        message = missing_extra(error.name or "")  # the user's install, not a bug
        say(check, message, collector)
        return _could_not_run(check, message, args, collector)
    except Exception as error:
        if _is_sqlite_error(error):
            # Migration errors are findings already; what reaches here is the database itself
            # (a damaged sample or database, a full disk): the user's input, not a bug.
            message = f"{_database_named(args)}: SQLite error: {error}"
            say(check, message, collector)
            return _could_not_run(check, message, args, collector)
        stopped = server_stopped(error)  # PostgreSQL's counterpart: cancelled, shut down, ...
        if stopped is not None:
            say(check, stopped, collector)
            return _could_not_run(check, stopped, args, collector)
        import traceback  # only on a crash: startup time is budgeted

        traceback.print_exc()  # a bug: keep the traceback, and report it as <error>
        message = f"internal error: {type(error).__name__}: {error}"
        return _could_not_run(check, message, args, collector)
    if collector is not None:
        collector.reports.append(report)
    elif not emit([report], args):
        return exits.COULD_NOT_RUN
    return report.exit_code


def _is_sqlite_error(error: BaseException) -> bool:
    """Without importing sqlite3 here: numbering and checksums never load it."""
    return type(error).__module__ == "sqlite3" and isinstance(error, Exception)


def _database_named(args: argparse.Namespace) -> str:
    """The database the user gave (a sample, --db), else the migrations directory."""
    for name in ("sample", "db"):
        value = getattr(args, name, None)
        if value is not None:
            return str(value)
    return str(getattr(args, "migrations_dir", ""))


def _could_not_run(
    check: str, message: str, args: argparse.Namespace, collector: Collector | None
) -> int:
    report = Report(check, [Case(f"{check} could not run", check, error=message)])
    if collector is not None:
        collector.reports.append(report)
    else:
        emit([report], args, text=False)
    return exits.COULD_NOT_RUN


def emit(reports_: Sequence[Report], args: argparse.Namespace, *, text: bool = True) -> bool:
    anchor = _anchor(args)
    config = getattr(args, "config", None)  # named in a pr-comment's marker, as by python -m ci
    return reports.emit(
        reports_, fmt=args.format, junit=args.junit, text=text, anchor=anchor, config=config
    )


def _anchor(args: argparse.Namespace) -> str | None:
    """Where SARIF and GitLab place an issue without a file: the config file, else the
    migrations directory, else the database (precheck, postcheck)."""
    for name in ("config", "migrations_dir", "db"):
        value = getattr(args, name, None)
        if value is not None:
            return str(value)
    return None
