"""`python -m ci` (`migration-guard check`): the configured checks in ONE process, ONE report.

Runs numbering, checksums, lint, apply_empty, rollback_roundtrip -- and apply_sample when a sample
is configured -- or the ones named by `--checks` / the `checks:` config key, and writes one JUnit
file with one <testsuite> per check. Options of any check may be given here (e.g.
`--sample`, `--base-ref`); each check takes the ones it has, except those that write a committed
file (`--update`, `--rehash`, `--write-snapshot`): refused, from the command line or the config,
since CI runs this. Exit 0 passed, 1 a finding, 2 a check could not run.

`cli()` is the `migration-guard` console script: `migration-guard <command> [options]`, or
`migration-guard --version`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from ci.app import exits
from ci.app.program import run_as_process, run_program
from ci.app.run_all import (
    VERSION,
    run_all,
    selected_checks,  # noqa: F401  (part of this module's interface)
)

# `migration-guard <command>`: each delegates to that module's `main(argv)`.
COMMANDS = {
    "check": "ci.__main__",
    "numbering": "ci.numbering",
    "checksums": "ci.checksums",
    "lint": "ci.lint",
    "apply-empty": "ci.apply_empty",
    "apply-sample": "ci.apply_sample",
    "rollback": "ci.rollback_roundtrip",
    "migrate": "ci.migrate",
    "new": "ci.new",
    "precheck": "ci.precheck",
    "postcheck": "ci.postcheck",
    "pr-comment": "ci.app.pr_comment",
}


def main(argv: Sequence[str] | None = None) -> int:
    return run_all(argv, __doc__.split("\n\n")[0] if __doc__ else None)


def cli(argv: Sequence[str] | None = None) -> int:
    """`migration-guard <command> [options]`; `migration-guard check` is `python -m ci`."""
    if argv is None:  # the console script: this process's own command line, ending after it
        return run_as_process(lambda: _command(argv))
    return run_program(lambda: _command(argv))


def _command(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if argv else sys.stderr)
        return exits.CLEAN if argv else exits.COULD_NOT_RUN
    if argv[0] == "--version":
        print(VERSION)
        return exits.CLEAN
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(
            f"migration-guard: error: unknown command {command!r} (commands: "
            f"{', '.join(COMMANDS)})\n  (the options: migration-guard <command> --help)",
            file=sys.stderr,
        )
        return exits.COULD_NOT_RUN
    if command == "check":
        return main(rest)
    result: int = importlib.import_module(COMMANDS[command]).main(rest)
    return result


def _usage() -> str:
    commands = ", ".join(COMMANDS)
    return (
        "usage: migration-guard <command> [options]   (migration-guard <command> --help)\n"
        "       migration-guard --version\n"
        f"commands: {commands}"
    )


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
