"""`python -m ci` run as a whole: the configured checks in ONE process, ONE report.

One parser holds the common options, `--checks` and every option any check declares (each given
once); each check is then parsed over the config file and run with a `Collector` handed to it
explicitly, which collects its Report instead of printing it. Options that would make a check
write a committed file are refused here (CI runs this).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from ci import TOOL_NAME, __version__, reports
from ci.app import config, exits, server_probe
from ci.app.cli import Collector, parse, run_declared
from ci.app.config import DEFAULT_CONFIG
from ci.app.parsers import check_parser, parser_of
from ci.app.registry import CHECKS, check_named, declared
from ci.checks.base import Check
from ci.core import fixes
from ci.core.findings import Case, Report
from ci.core.model import DEFAULT_MIGRATIONS_DIR

VERSION = f"{TOOL_NAME} {__version__}"  # what --version prints
DEFAULT_CHECKS = ("numbering", "checksums", "lint", "apply_empty", "rollback_roundtrip")
CHECK_ALIASES = {"rollback": "rollback_roundtrip"}
COMMON: tuple[str, ...] = ("files", "migrations_dir", "config", "junit", "format", "checks", "help")
COMMON += ("sarif", "codequality")  # report files of the whole run, never a check's option
COMMON += ("if_server_reachable",)  # whether to run at all (ci.app.server_probe)
# Options that make a check write a committed file, with the single check that does it.
# `python -m ci` is what CI runs: it only checks, so these are refused there even on its command
# line (in the config every command refuses them: ci.app.config.COMMAND_LINE_ONLY).
WRITING = {
    "update": ("checksums", "--update"),
    "rehash": ("checksums", "--rehash", "FILE"),
    "write_snapshot": ("apply_empty", "--schema-snapshot", "FILE", "--write-snapshot"),
}


def build_parser(checks: dict[str, Check], description: str | None) -> argparse.ArgumentParser:
    """The common options, `--checks`, and every option of every check (given once)."""
    parser = check_parser("ci", description, module="ci")
    parser.add_argument(
        "--checks",
        action="append",
        default=None,
        metavar="NAMES",
        help=f"comma-separated checks to run (default: {', '.join(DEFAULT_CHECKS)}, "
        "and apply_sample when --sample is set)",
    )
    parser.add_argument(
        "--pr-comment",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the report as a pull-request comment (markdown) here",
    )
    add_report_files(parser)
    server_probe.add_option(parser)
    parser.add_argument(
        "--version",
        action="version",
        version=VERSION,
        help=f"print '{VERSION}' and exit",
    )
    taken = set(parser._option_string_actions)
    for check in checks.values():
        for option in check.options:
            if taken & set(option.flags):
                continue
            # only what is given reaches the checks
            option.add_to(parser, default=argparse.SUPPRESS, required=False)
            taken.update(option.flags)
    return parser


def add_report_files(parser: argparse.ArgumentParser) -> None:
    """`--sarif FILE` and `--codequality FILE`: the run's findings as SARIF 2.1.0 and as a
    GitLab Code Quality report too, beside --junit and whatever --format prints."""
    parser.add_argument(
        "--sarif", type=Path, default=None, metavar="FILE", help="write a SARIF 2.1.0 report here"
    )
    parser.add_argument(
        "--codequality",
        type=Path,
        default=None,
        metavar="FILE",
        help="write a GitLab Code Quality report here",
    )


def report_files_refusal(args: argparse.Namespace) -> str | None:
    """One line refusing a --sarif or --codequality path that is not a previous report of its
    kind (the database, a sample, a migration), before any check runs; else None."""
    if args.sarif is None and args.codequality is None:
        return None
    from ci.reports.gitlab import codequality_refusal
    from ci.reports.sarif import sarif_refusal

    inputs = (getattr(args, "db", None), getattr(args, "sample", None))
    for path, refusal in ((args.sarif, sarif_refusal), (args.codequality, codequality_refusal)):
        if path is None:
            continue
        problem = refusal(path, inputs=inputs, migrations_dir=args.migrations_dir)
        if problem is not None:
            return problem
    return None


def selected_checks(names: Sequence[str] | None, *, sample: bool) -> list[str]:
    """The checks to run, in their canonical order; raises ValueError naming an unknown one."""
    if not names:
        return [c for c in CHECKS if c in DEFAULT_CHECKS or (c == "apply_sample" and sample)]
    wanted = set()
    for item in names:
        for name in item.replace(",", " ").split():
            canonical = name.strip().lower().replace("-", "_")
            canonical = CHECK_ALIASES.get(canonical, canonical)
            if canonical not in CHECKS:
                raise ValueError(f"unknown check {name!r} (known: {', '.join(CHECKS)})")
            wanted.add(canonical)
    if not wanted:  # `--checks ,` or `--checks ''`: running nothing must not pass
        raise ValueError(
            f"no check named in {', '.join(map(repr, names))} (known: {', '.join(CHECKS)})"
        )
    return [c for c in CHECKS if c in wanted]


def run_all(argv: Sequence[str] | None, description: str | None) -> int:
    """`python -m ci`: every selected check, one report; a caller keeps its directory."""
    here = os.getcwd()
    try:
        return _run_all(list(sys.argv[1:] if argv is None else argv), description)
    finally:
        os.chdir(here)  # a caller keeps its directory (see move_to_project_root)


def _run_all(argv: list[str], description: str | None) -> int:
    parser = build_parser(declared(), description)
    explicit = parser.parse_args(argv)  # without the config: what the command line says
    if explicit.config is None and explicit.migrations_dir is None:
        argv = move_to_project_root(parser, argv)
    args = parse(parser, argv)
    config_file = args.config or _default_config()
    try:
        # an appended --checks would add to the config's list: the command line replaces it
        names = explicit.checks or args.checks
        checks = selected_checks(names, sample=sample_given(args, config_file))
    except ValueError as error:
        where = "" if explicit.checks else f"{config_file}: checks: "
        print(f"{parser.prog}: {where}{error}", file=sys.stderr)
        return exits.COULD_NOT_RUN
    skipped = server_probe.skip_reason(args, str(config_file or args.migrations_dir))
    gone: list[str] = []
    if skipped is not None:
        where = str(config_file or args.migrations_dir)
        kept, line = server_probe.without_server(checks, skipped, where)
        gone, checks = [name for name in checks if name not in kept], kept
        if line:
            print(f"{parser.prog}: {line}", file=sys.stderr)
        if not checks:
            return exits.CLEAN
    refused = writing_options(explicit, parser.prog) or pr_comment_refused(args)
    if refused:
        print(f"{parser.prog}: {refused}", file=sys.stderr)
        return exits.COULD_NOT_RUN
    refused = report_files_refusal(args)
    if refused:
        print(f"{parser.prog}: {refused}", file=sys.stderr)
        return exits.COULD_NOT_RUN
    overrides = {
        k: v for k, v in vars(explicit).items() if k not in COMMON or k == "migrations_dir"
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    collector = Collector(overrides, config_file, prog=parser.prog)
    try:
        codes = [_run_one(name, [str(f) for f in args.files], collector) for name in checks]
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return exits.INTERRUPTED
    for name in gone:  # the reports say so too, not only the line on stderr
        collector.reports.append(Report(name, [Case(name, name, skipped=skipped or "")]))
    say_once(collector.errors)
    files = {"sarif": args.sarif, "codequality": args.codequality}
    anchor = str(config_file or args.migrations_dir)
    emitted = reports.emit(
        collector.reports,
        fmt=args.format,
        junit=args.junit,
        **files,
        anchor=anchor,
        config=args.config,
    )
    # every report is written whatever became of the others
    if not pr_comment_written(collector.reports, args, config_file) or not emitted:
        return exits.COULD_NOT_RUN
    if exits.COULD_NOT_RUN in codes:
        return exits.COULD_NOT_RUN
    return exits.of_reports(collector.reports)


def pr_comment_refused(args: argparse.Namespace) -> str | None:
    """Why --pr-comment FILE must not be written (the database, a migration...), or None."""
    if args.pr_comment is None:
        return None
    from ci.reports.pr_comment import pr_comment_refusal

    return pr_comment_refusal(
        args.pr_comment,
        inputs=(getattr(args, "db", None), getattr(args, "sample", None)),
        migrations_dir=args.migrations_dir,
    )


def pr_comment_written(
    reports_: list[Report], args: argparse.Namespace, config_file: Path | None
) -> bool:
    """--pr-comment FILE: the comment body beside the JUnit file; False when it could not be
    written (the run then exits 2). The config file named in the comment's marker is the one
    given, so two jobs with two configs in one folder keep two comments."""
    if args.pr_comment is None:
        return True
    from ci.reports.outputs import OutputRefused
    from ci.reports.pr_comment import write_pr_comment

    try:
        write_pr_comment(reports_, args.pr_comment, config=args.config)
    except OutputRefused as refused:
        print(f"error: {refused}", file=sys.stderr)
        return False
    except (OSError, ValueError) as error:  # ValueError: text UTF-8 cannot hold
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(f"error: --pr-comment {args.pr_comment}: cannot write: {reason}", file=sys.stderr)
        return False
    return True


def sample_given(args: argparse.Namespace, config_file: Path | None) -> bool:
    """A sample set wherever apply_sample reads it: the command line, the config's top level
    (both in `args`) or the config's `apply_sample:` section; then the default selection runs
    apply_sample, else CI would pass a migration that fails on the sample."""
    if getattr(args, "sample", None):
        return True
    if config_file is None:
        return False
    section = config.load(config_file).get("apply_sample")  # read (and checked) by parse()
    return isinstance(section, dict) and section.get("sample") not in (None, False, "")


def say_once(errors: Sequence[tuple[str, str]]) -> None:
    """Each reason a check could not run, once, with every check that gave it:
    `numbering, checksums: schema/migrations: migrations directory not found ...`."""
    checks_of: dict[str, list[str]] = {}
    for check, message in errors:
        checks_of.setdefault(message, []).append(check)
    for message, checks in checks_of.items():
        print(f"{', '.join(dict.fromkeys(checks))}: {message}", file=sys.stderr)


def project_root(start: Path) -> Path | None:
    """The nearest folder from `start` upward that holds migration-guard.yaml, else the git
    top level, else None (then `start` it is)."""
    for folder in (start, *start.parents):
        if (folder / DEFAULT_CONFIG).is_file():
            return folder
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no git installed
        return None
    top = done.stdout.strip()
    return Path(top) if done.returncode == 0 and top else None


def move_to_project_root(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Run from a subfolder (no config file, no migrations directory here), the checks run in
    the project root, as pre-commit and CI run them; the paths given on the command line keep
    meaning what they meant where they were typed. Returns the arguments to parse there."""
    here = Path.cwd()
    if (here / DEFAULT_CONFIG).is_file() or (here / DEFAULT_MIGRATIONS_DIR).is_dir():
        return argv
    root = project_root(here)
    if root is None or root.resolve() == here.resolve():
        return argv
    absolute = paths_made_absolute(parser, argv, here)
    os.chdir(root)
    print(f"{parser.prog}: checking the project at {root}", file=sys.stderr)
    return absolute


def paths_made_absolute(
    parser: argparse.ArgumentParser, argv: Sequence[str], here: Path
) -> list[str]:
    """`argv` with each path (FILES and the values of path options) made absolute from `here`."""
    options = parser._option_string_actions
    result: list[str] = []
    tokens = iter(argv)
    only_files = False
    for token in tokens:
        if only_files or not token.startswith("-") or token == "-":
            result.append(str(here / token))  # FILES (the only positional argument)
            continue
        if token == "--":
            only_files = True
            result.append(token)
            continue
        name, equals, value = token.partition("=")
        action = options.get(name)
        is_path = action is not None and action.type is Path
        if action is None or action.nargs == 0:
            result.append(token)
        elif equals:
            result.append(f"{name}={here / value}" if is_path else token)
        else:
            result.append(token)
            following = next(tokens, None)
            if following is not None:
                result.append(str(here / following) if is_path else following)
    return result


def writing_options(explicit: argparse.Namespace, prog: str) -> str | None:
    """One line refusing the options on the command line that would write the lock or the
    snapshot, or None: a `python -m ci` in CI must never rewrite a committed file. (In the config
    file, reading it refused them already, as every command does.)"""
    given = [key for key in WRITING if getattr(explicit, key, None)]
    if not given:
        return None
    named = ", ".join(f"--{key.replace('_', '-')}" for key in given)
    commands = "; ".join(dict.fromkeys(fixes.command(*WRITING[key]) for key in given))
    return (
        f"refusing {named}: {prog} only checks and never rewrites the lock file or the "
        f"schema snapshot; run {commands} yourself, review the change and commit it"
    )


def _default_config() -> Path | None:
    return config.config_path([])


def run_into(name: str, collector: Collector) -> int:
    """Run check `name` as `python -m ci` would, its Report appended to `collector`: the pytest
    plugin (ci.app.pytest_checks) runs each check the first time one of its items asks."""
    return _run_one(name, [], collector)


def _run_one(name: str, files: list[str], collector: Collector) -> int:
    """Parse and run one check with the collector; whatever happens, it leaves one report."""
    before = len(collector.reports)
    started = time.perf_counter()
    try:
        code = _parsed_and_run(name, files, collector)
    except SystemExit as exit_:  # argparse or the config said why on stderr
        code = exit_.code if isinstance(exit_.code, int) else exits.COULD_NOT_RUN
    except Exception as error:  # a bug in the check: keep the traceback, report <error>
        traceback.print_exc()
        code = exits.COULD_NOT_RUN
        collector.reports.append(_error_report(name, f"internal error: {error!r}"))
    if len(collector.reports) == before and code == 0:  # returned early: nothing to check
        collector.reports.append(
            Report(name, [Case(f"{name}: nothing to check", name, skipped="")])
        )
    elif len(collector.reports) == before:
        collector.reports.append(_error_report(name, f"could not run (exit {code}); see the log"))
    # the check's whole share of the run (importing it, reading the config), not only its work
    collector.reports[-1].time = time.perf_counter() - started
    return code


def _parsed_and_run(name: str, files: list[str], collector: Collector) -> int:
    check = check_named(name)
    if check is None:
        print(f"{name}: check {name} is not installed in this version", file=sys.stderr)
        return exits.COULD_NOT_RUN
    # FILES after `--`: a file named `--rehash` is a file, never an option of the check
    args = parse(parser_of(check), ["--", *files], collector)
    return run_declared(check, args, collector)


def _error_report(check: str, message: str) -> Report:
    return Report(check, [Case(f"{check} could not run", check, error=message)])
