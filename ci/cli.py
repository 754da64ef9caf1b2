"""What every check's `main` shares: common options, config, the FILES shortcut, exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ci import reports
from ci.findings import Report
from ci.model import DEFAULT_MIGRATIONS_DIR, InputError

DEFAULT_CONFIG = "migration-guard.yaml"


class UsageError(Exception):
    """The check could not run (bad arguments, config, environment): exit 2."""


def check_parser(check: str, description: str) -> argparse.ArgumentParser:
    """The options every check takes (SPEC 5)."""
    parser = argparse.ArgumentParser(prog=f"python -m ci.{check}", description=description)
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="changed files (from pre-commit); the check returns 0 at once "
        "when none is a migration",
    )
    parser.add_argument(
        "--migrations-dir",
        type=Path,
        default=None,
        help=f"migrations root (default: {DEFAULT_MIGRATIONS_DIR})",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"config file (default: {DEFAULT_CONFIG} if present)",
    )
    parser.add_argument("--junit", type=Path, default=None, help="write a JUnit XML report here")
    parser.add_argument(
        "--format",
        choices=("text", "github", "json"),
        default=None,
        help="output format (default: github when GITHUB_ACTIONS=true, else text)",
    )
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse arguments; argparse's own errors exit 2 with one usage line, as SPEC 5 asks."""
    args = parser.parse_args(argv)
    if args.migrations_dir is None:
        args.migrations_dir = Path(DEFAULT_MIGRATIONS_DIR)
    return args


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
    if not touches_migrations(args.files, args.migrations_dir):
        return 0
    try:
        report = work(args)
    except (InputError, UsageError) as error:
        print(f"{check}: {error}", file=sys.stderr)
        return 2
    emit([report], args)
    return report.exit_code


def emit(reports_: Sequence[Report], args: argparse.Namespace) -> None:
    reports.write_text(reports_)
    if args.junit is not None:
        reports.write_junit(reports_, args.junit)
