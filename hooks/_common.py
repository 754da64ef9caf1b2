"""What every pre-commit entry point shares: adapt pre-commit's call to a check's `main`.

pre-commit passes file names (shuffled, possibly split over several processes) and, for
pre-push or `pre-commit run --from-ref A --to-ref B`, PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF.
A check whose answer depends on the whole directory must not look only at those files: the
adapter returns 0 at once when none of them is a migration, and otherwise runs the check on the
whole directory, with PRE_COMMIT_FROM_REF as its `--base-ref` (the checks read the working tree,
which is what PRE_COMMIT_TO_REF names when pre-commit runs them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ci.cli import parse, touches_migrations
from ci.gitrefs import hook_refs

Main = Callable[[Sequence[str] | None], int]


def run_hook(
    check_main: Main,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    *,
    also: Callable[[argparse.Namespace], Sequence[Path]] = lambda args: (),
) -> int:
    """Call `check_main` on the whole directory, or return 0 when no FILES concern it.

    `also` names further paths that count as migrations for this check (e.g. the lock file).
    """
    tokens = list(sys.argv[1:] if argv is None else argv)
    args = parse(parser, tokens)
    files: list[Path] = args.files
    if files and not _concerned(files, args, also(args)):
        return 0
    options = _without_files(tokens, files)
    from_ref, _ = hook_refs()
    if from_ref is not None and getattr(args, "base_ref", None) is None:
        options += ["--base-ref", from_ref]
    return check_main(options)


def _concerned(files: list[Path], args: argparse.Namespace, extra: Sequence[Path]) -> bool:
    if touches_migrations(files, args.migrations_dir):
        return True
    wanted = {path.resolve() for path in extra}
    return any(Path(f).resolve() in wanted for f in files)


def _without_files(tokens: list[str], files: list[Path]) -> list[str]:
    """The options alone: pre-commit appends the file names after the hook's `args`."""
    count = len(files)
    if count and [Path(t) for t in tokens[-count:]] == files:
        return tokens[:-count]
    names = set(files)
    return [t for t in tokens if t.startswith("-") or Path(t) not in names]
