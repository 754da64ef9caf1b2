"""SQL lint: sqlfluff plus the migration safety rules of `ci.checks.lint.rules`.

`python -m ci.lint [FILES...]` lints the given migration files (pre-commit passes the staged ones),
or every `.sql` file under the migrations directory. The work is in `ci.checks.lint`: sqlfluff runs
in this process, imported only when there is a file to lint, and the safety rules work on the
runner's statement split.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ci.app.cli import check_parser, parse, run_check, run_program, whole_number
from ci.checks.lint import CHECK, run
from ci.checks.lint.options import parse_version, rule_codes
from ci.checks.lint.rules.base import DEFAULT_MIN_SQLITE, version_text
from ci.checks.lint.sqlfluff_adapter import SQLFLUFF_MAX_BYTES

__all__ = ["CHECK", "build_parser", "main"]  # what hooks.lint and `python -m ci` use


def build_parser() -> argparse.ArgumentParser:
    parser = check_parser(CHECK, "SQL lint: sqlfluff plus migration safety rules (MG5xx).")
    parser.add_argument(
        "--min-sqlite-version",
        type=parse_version,
        default=DEFAULT_MIN_SQLITE,
        metavar="X.Y[.Z]",
        help="oldest SQLite the migrations must run on "
        f"(default {version_text(DEFAULT_MIN_SQLITE)}; rule MG510)",
    )
    parser.add_argument(
        "--exclude-rules",
        type=rule_codes,
        action="extend",
        default=[],
        metavar="CODES",
        help="comma-separated rules to turn off for every file: safety rules and sqlfluff "
        "codes alike (e.g. MG510,LT05); to waive one statement, use -- noqa: CODE",
    )
    parser.add_argument(
        "--no-sqlfluff", action="store_true", help="run only the migration safety rules"
    )
    parser.add_argument(
        "--base-ref",
        default=None,
        metavar="REF",
        help="without FILES, lint only the migration files added or changed since the merge "
        "base of HEAD and REF (e.g. origin/main); given FILES are always linted",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="lint every migration file, even with --base-ref (or base_ref: in the config)",
    )
    parser.add_argument(
        "--sqlfluff-max-bytes",
        type=whole_number("bytes", 0),
        default=SQLFLUFF_MAX_BYTES,
        metavar="BYTES",
        help="a larger file gets only the safety rules, with a warning "
        f"(default {SQLFLUFF_MAX_BYTES:_}; 0: no limit)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_check(CHECK, parse(build_parser(), argv), run)


if __name__ == "__main__":
    raise SystemExit(run_program(main))
