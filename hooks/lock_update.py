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

from ci import checksums
from ci.app.cli import parse
from ci.core import fixes, lockfile
from hooks._common import stage


def main(argv: Sequence[str] | None = None) -> int:
    tokens = list(sys.argv[1:] if argv is None else argv)
    with fixes.run_by_pre_commit():
        args = parse(checksums.build_parser(), tokens)
        options = [t for t in tokens if t not in {str(f) for f in args.files}]
        code = checksums.main(["--update", *options])
    lock = args.lock or lockfile.default_path(args.migrations_dir)
    if code == 2 or not lock.is_file():
        return code
    return stage(lock) or code


if __name__ == "__main__":
    raise SystemExit(main())
