"""pre-commit hook `migration-lock-update` (manual stage): `ci.checksums --update`, for users who
installed migration-guard only through pre-commit (their shell has no `ci` module).

    pre-commit run migration-lock-update --hook-stage manual --all-files

Adds the migrations the lock lacks, refreshes the entries of this branch's own unmerged
migrations, then stages the lock (`git add`): the next commit needs it, and pre-commit would
otherwise call the run "Failed" because a tracked file changed. `--all-files` makes pre-commit
show the hook the working tree, unstaged edits included.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ci.app.cli import parse, parser_of, run_declared
from ci.app.precommit import stage
from ci.checks.checksums import CHECK
from ci.core import fixes, lockfile


def main(argv: Sequence[str] | None = None) -> int:
    tokens = list(sys.argv[1:] if argv is None else argv)
    with fixes.run_by_pre_commit():
        args = parse(parser_of(CHECK), tokens)
        args.files, args.update = [], True  # the whole directory, `--update`
        code = run_declared(CHECK, args)
    lock = args.lock or lockfile.default_path(args.migrations_dir)
    if code == 2 or not lock.is_file():
        return code
    return stage(lock) or code


if __name__ == "__main__":
    raise SystemExit(main())
