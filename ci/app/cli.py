"""What every check's `main` shares: common options, config, the FILES shortcut, exit codes.

The convention every check module `ci/<check>.py` follows (and `python -m ci` relies on):

    CHECK = "numbering"

    def build_parser() -> argparse.ArgumentParser:
        parser = check_parser(CHECK, __doc__)        # FILES, --migrations-dir, --config, ...
        parser.add_argument("--base-ref", ...)        # the check's own options
        return parser

    def main(argv: Sequence[str] | None = None) -> int:
        args = parse(build_parser(), argv)           # FIRST thing main does; applies the config
        return run_check(CHECK, args, work)          # work(args) -> Report; nothing printed

    if __name__ == "__main__":
        raise SystemExit(main())

`work` returns a `Report` and prints nothing: `run_check` prints, writes JUnit / GitHub files and
turns `InputError` / `UsageError` into one line on stderr and exit 2, and a crash into an <error>
case. `python -m ci` calls each check's `main` inside `collecting()`: `parse` then takes the
shared options from the aggregate run, and `run_check` hands the Report back instead of printing,
so all checks end up in ONE process and ONE JUnit file. `parse` must be called before any work
(`check_parsers` calls `main` in a mode where `parse` stops it right there to read its options).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

from ci import reports
from ci.app import config
from ci.app.config import DEFAULT_CONFIG, ConfigError
from ci.core.errors import UsageError
from ci.core.findings import Case, Report
from ci.core.model import DEFAULT_MIGRATIONS_DIR, InputError

# The checks `python -m ci` knows, in the order it runs them by default.
CHECKS = ("numbering", "checksums", "lint", "apply_empty", "apply_sample", "rollback_roundtrip")


def seconds(text: str) -> float:
    """argparse type of every SECONDS option (--busy-timeout, --warn-slow): a number >= 0."""
    try:
        value = float(ascii_only(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got '{text}'") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got '{text}'")
    return value


def whole_number(unit: str, minimum: int) -> Callable[[str], int]:
    """argparse type of a count option (--sqlfluff-max-bytes, --jobs): a whole number >=
    `minimum`, `1_000_000` allowed; argparse turns the error into one line and exit 2."""

    def parse_count(text: str) -> int:
        try:
            value = int(ascii_only(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of {unit}, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {unit} >= {minimum}, got '{text}'")
        return value

    return parse_count


def migration_number(text: str) -> int:
    """argparse type of every migration number option (--target, --rollback, --baseline,
    --expect-version): digits 0-9 only."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a migration number, got '{text}'")
    return int(text)


def ascii_only(text: str) -> str:
    """`text` for int() / float(), which would also read other scripts' digits (`٣` is 3 to
    them): a number on a command line or in a config file is written in ASCII. ValueError
    otherwise."""
    if not text.isascii():
        raise ValueError(text)
    return text


def add_busy_timeout(parser: argparse.ArgumentParser, *, default: float, help: str) -> None:
    """`--busy-timeout SECONDS`: how long opening the user's database waits for another
    process's lock before giving up with one line and exit 2 (every command that has one)."""
    parser.add_argument(
        "--busy-timeout", type=seconds, default=default, metavar="SECONDS", help=help
    )


def add_statement_timeout(
    parser: argparse.ArgumentParser, *, default: float | None, help: str
) -> None:
    """`--statement-timeout SECONDS`: the most one migration may run before it is stopped and
    reported (0: no limit). The checks and `ci.migrate` take it; also a config key."""
    parser.add_argument(
        "--statement-timeout", type=time_limit, default=default, metavar="SECONDS", help=help
    )


def time_limit(text: str) -> float | None:
    """argparse type of --statement-timeout: seconds >= 0, where 0 means no limit (None)."""
    return seconds(text) or None


def add_migrations_dir(parser: argparse.ArgumentParser, *, default: Path | None = None) -> None:
    """`--migrations-dir DIR`: the migrations root (every command that reads migrations)."""
    parser.add_argument(
        "--migrations-dir",
        type=Path,
        default=default,
        help=f"migrations root (default: {DEFAULT_MIGRATIONS_DIR})",
    )


class ArgumentParser(argparse.ArgumentParser):
    """The parser of every command: an argument error is one line and a hint, not the whole
    usage, and an option is never guessed from its first letters (`--migrations` is not
    `--migrations-dir`: a guess that a later option makes ambiguous would break scripts)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n  (the options: {self.prog} --help)\n")


def run_program(main: Callable[[], int]) -> int:
    """Run a command's `main` as a program (`python -m ci.<command>`, the console scripts).

    A reader that leaves early (`... | head -1`) is not an error: what is still written to
    stdout or stderr goes nowhere, the command finishes its work (a migration is not stopped
    halfway because nobody reads its log) and exits with its own result; no traceback.
    """
    reader_may_leave()
    return main()


def reader_may_leave() -> None:
    """Make stdout and stderr drop what a closed pipe cannot take (see `run_program`);
    the console scripts call it first thing."""
    if not isinstance(sys.stdout, _ReaderMayLeave):
        sys.stdout = _ReaderMayLeave(sys.stdout)
    if not isinstance(sys.stderr, _ReaderMayLeave):
        sys.stderr = _ReaderMayLeave(sys.stderr)


class _ReaderMayLeave:
    """A text stream whose writes into a closed pipe are dropped: the first broken write points
    the file descriptor at /dev/null, so the interpreter's last flush does not fail either."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._reader_left()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_left()

    def _reader_left(self) -> None:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Collector:
    """An aggregate run (`python -m ci`): options shared by all checks, reports collected.

    A plain class: a dataclass here would make every check import `dataclasses` (~12 ms), and
    The performance budgets (docs/design.md) cover numbering's and checksums' whole process.
    """

    def __init__(
        self,
        overrides: Mapping[str, Any] | None = None,
        config: Path | None = None,
        reports: list[Report] | None = None,
    ) -> None:
        self.overrides: Mapping[str, Any] = {} if overrides is None else overrides
        self.config = config
        self.reports: list[Report] = [] if reports is None else reports
        # (check, message) of each check that could not run, said once at the end: several
        # checks often fail for one reason (a missing directory, a bad config value)
        self.errors: list[tuple[str, str]] = []


_collector: ContextVar[Collector | None] = ContextVar("collector", default=None)
_capturing: ContextVar[bool] = ContextVar("capturing", default=False)


class _ParserCaptured(BaseException):
    """Raised by `parse` while `check_parsers` reads a check's options; never escapes."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def check_parser(check: str, description: str | None) -> argparse.ArgumentParser:
    """The options every check takes."""
    parser = ArgumentParser(prog=f"python -m ci.{check}", description=description)
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="changed files (from pre-commit); the check returns 0 at once "
        "when none is a migration",
    )
    add_migrations_dir(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"config file (default: {DEFAULT_CONFIG} if present)",
    )
    parser.add_argument("--junit", type=Path, default=None, help="write a JUnit XML report here")
    parser.add_argument(
        "--format",
        choices=reports.FORMATS,
        default=None,
        help="output format (default: github when GITHUB_ACTIONS=true, else text)",
    )
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse arguments over the config file; errors exit 2 with one line."""
    if _capturing.get():
        raise _ParserCaptured(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from_config = apply_config(parser, argv)
    except ConfigError as error:
        say(parser.prog, str(error))
        raise SystemExit(2) from None
    args = parser.parse_args(argv)
    if getattr(args, "migrations_dir", None) is None:
        args.migrations_dir = Path(DEFAULT_MIGRATIONS_DIR)
    args.set_in_config = {
        dest: origin
        for dest, (value, origin) in from_config.items()
        if getattr(args, dest, None) == value  # not replaced on the command line
    }
    refuse_unsafe_junit(parser.prog, args)
    return args


def say(check: str, message: str) -> None:
    """One line on stderr for a check that could not run; inside `python -m ci` it is said at
    the end, once for every check that gave the same reason."""
    collector = _collector.get()
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
        raise SystemExit(2)


def apply_config(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> dict[str, tuple[Any, str]]:
    """Config values (and an aggregate run's options) become the parser's defaults. Returns
    the config file's values: {dest: (value, "FILE: key")}."""
    collector = _collector.get()
    if collector is not None:  # `python -m ci` found the file (or was given --config) already
        path = config.explicit_path(argv) or collector.config
    else:
        path = config.config_path(argv)
    values: dict[str, Any] = {}
    if path is not None:
        check = parser.prog.rsplit(".", 1)[-1]
        values = config.parser_values(
            parser,
            check,
            config.load(path),
            path,
            sections=CHECKS,
            known_elsewhere=known_keys,
        )
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


def check_parsers(names: Sequence[str] = CHECKS) -> dict[str, argparse.ArgumentParser]:
    """Each available check's parser, read by calling its `main` until it calls `parse`."""
    return {name: parser for name in names if (parser := _check_parser_of(name)) is not None}


@cache
def _check_parser_of(name: str) -> argparse.ArgumentParser | None:
    try:
        module = importlib.import_module(f"ci.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"ci.{name}":
            return None  # not installed in this version
        raise
    token = _capturing.set(True)
    try:
        module.main([])
    except _ParserCaptured as captured:
        return captured.parser
    finally:
        _capturing.reset(token)
    return None


def known_keys() -> set[str]:
    """Every key a config file may hold: the options of all checks, `checks`, the sections."""
    keys = {"checks", *CHECKS}
    for parser in check_parsers().values():
        keys.update(a.dest for a in parser._actions if a.option_strings)
    return keys


def touches_migrations(files: Sequence[Path], migrations_dir: Path) -> bool:
    """Whether any of FILES is under the migrations directory (or no FILES were given)."""
    if not files:
        return True
    root = migrations_dir.resolve()
    return any(root in Path(f).resolve().parents for f in files)


def run_check(
    check: str,
    args: argparse.Namespace,
    work: Callable[[argparse.Namespace], Report],
) -> int:
    """Run `work`, print and write its report; user errors become one line and exit 2."""
    collector = _collector.get()
    if not touches_migrations(args.files, args.migrations_dir):
        if collector is not None:
            skipped = Case("no migration among the files", check, skipped="no migration changed")
            collector.reports.append(Report(check, [skipped]))
        return 0
    started = time.perf_counter()
    try:
        report = work(args)
        report.time = time.perf_counter() - started
    except KeyboardInterrupt:
        if collector is not None:
            raise  # `python -m ci` stops every check, not just this one
        print(f"{check}: interrupted", file=sys.stderr)
        return 130
    except (InputError, UsageError) as error:
        message = named_in_config(str(error), args)
        say(check, message)
        return _could_not_run(check, message, args)
    except Exception as error:
        if _is_sqlite_error(error):
            # Migration errors are findings already; what reaches here is the database itself
            # (a damaged sample or database, a full disk): the user's input, not a bug.
            message = f"{_database_named(args)}: SQLite error: {error}"
            say(check, message)
            return _could_not_run(check, message, args)
        import traceback  # only on a crash: startup time is budgeted

        traceback.print_exc()  # a bug: keep the traceback, and report it as <error>
        return _could_not_run(check, f"internal error: {type(error).__name__}: {error}", args)
    if collector is not None:
        collector.reports.append(report)
    elif not emit([report], args):
        return 2
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
    return str(args.migrations_dir)


def _could_not_run(check: str, message: str, args: argparse.Namespace) -> int:
    report = Report(check, [Case(f"{check} could not run", check, error=message)])
    collector = _collector.get()
    if collector is not None:
        collector.reports.append(report)
    else:
        emit([report], args, text=False)
    return 2


def emit(reports_: Sequence[Report], args: argparse.Namespace, *, text: bool = True) -> bool:
    return reports.emit(reports_, fmt=args.format, junit=args.junit, text=text)


@contextmanager
def collecting(
    overrides: Mapping[str, Any] | None = None, *, config_file: Path | None = None
) -> Iterator[Collector]:
    """Within this block checks hand their reports to the collector instead of printing."""
    collector = Collector(dict(overrides or {}), config_file)
    token = _collector.set(collector)
    try:
        yield collector
    finally:
        _collector.reset(token)
