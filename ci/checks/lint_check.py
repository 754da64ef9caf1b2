"""The lint check as the app layer runs it: its options, declared as data, and its run (the
engine in ci/checks/lint/; sqlfluff is imported only when there is a file to lint)."""

from __future__ import annotations

from ci.checks import options
from ci.checks.base import Check
from ci.checks.lint import run
from ci.checks.lint.inputs import CHECK as NAME
from ci.checks.lint.options import parse_version, rule_codes
from ci.checks.lint.rules.base import DEFAULT_MIN_SQLITE, version_text
from ci.checks.lint.sqlfluff_adapter import SQLFLUFF_MAX_BYTES
from ci.checks.options import Option, whole_number

CHECK = Check(
    NAME,
    "SQL lint: sqlfluff plus migration safety rules (MG5xx; squawk's MG7xx on PostgreSQL).",
    (
        Option(
            "--min-sqlite-version",
            type=parse_version,
            default=DEFAULT_MIN_SQLITE,
            metavar="X.Y[.Z]",
            help="oldest SQLite the migrations must run on "
            f"(default {version_text(DEFAULT_MIN_SQLITE)}; rule MG510)",
        ),
        Option(
            "--exclude-rules",
            type=rule_codes,
            action="extend",
            default=[],
            metavar="CODES",
            help="comma-separated rules to turn off for every file: safety rules and sqlfluff "
            "codes alike (e.g. MG510,LT05); to waive one statement, use -- noqa: CODE",
        ),
        Option(
            "--include-rules",
            type=rule_codes,
            action="extend",
            default=[],
            metavar="CODES",
            help="comma-separated squawk style rules to turn on (off by default: column-type "
            "preferences, not lock hazards): MG718,MG719,MG720,MG721,MG722,MG723,MG734",
        ),
        options.engine(
            "the engine the migrations are written for (default sqlite); postgresql: sqlfluff's "
            "postgres dialect plus squawk's rules (MG7xx), from the postgresql extra"
        ),
        Option("--no-sqlfluff", action="store_true", help="run only the migration safety rules"),
        options.base_ref(
            "without FILES, lint only the migration files added or changed since the merge "
            "base of HEAD and REF (e.g. origin/main); given FILES are always linted"
        ),
        Option(
            "--all",
            action="store_true",
            help="lint every migration file, even with --base-ref (or base_ref: in the config)",
        ),
        Option(
            "--sqlfluff-max-bytes",
            type=whole_number("bytes", 0),
            default=SQLFLUFF_MAX_BYTES,
            metavar="BYTES",
            help="a larger file gets only the safety rules, with a warning "
            f"(default {SQLFLUFF_MAX_BYTES:_}; 0: no limit)",
        ),
    ),
    run,
)
