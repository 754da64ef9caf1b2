"""pre-commit hook `migration-lock-update`: `ci.checksums --update`, then `git add` of the lock.

At commit (stage pre-commit; list it before `migration-checksums`) it adds the migrations the
lock lacks and refreshes the entries of this branch's own unmerged migrations, from the staged
text pre-commit shows it, and stages the lock with the commit: `ci.new`, edit, `git add`,
`git commit` needs no lock command. It never touches the entry of a merged migration (an edit
of an applied file stays the checksums hook's finding), and reports only what it could not
write (exit 2, one line: a lock with conflict markers, a number used twice) and each migration
it leaves out because git's index lacks it (exit 1: `git add` it); the findings are the
checksums hook's. On demand, for users who installed migration-guard only through
pre-commit (their shell has no `ci` module):

    pre-commit run migration-lock-update --hook-stage manual --all-files

(`--all-files` makes pre-commit show the hook the working tree, unstaged edits included.)
Staging the lock keeps pre-commit from calling the run "Failed" because a tracked file changed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ci.app import exits
from ci.app.cli import parse, parser_of
from ci.app.precommit import stage
from ci.checks.checksums import CHECK, engine_of
from ci.checks.checksums_lock import write_lock
from ci.core import fixes, lockfile
from ci.core.model import InputError

HOOK = "migration-lock-update"


def main(argv: Sequence[str] | None = None) -> int:
    tokens = list(sys.argv[1:] if argv is None else argv)
    with fixes.run_by_pre_commit():
        args = parse(parser_of(CHECK), tokens)
        lock = args.lock or lockfile.default_path(args.migrations_dir)
        try:
            written, left_out = write_lock(
                args.migrations_dir, lock, args.base_ref, engine_of(args)
            )
        except InputError as error:
            print(f"{HOOK}: {error}", file=sys.stderr)
            return exits.COULD_NOT_RUN
    for path in left_out:  # never a silent skip: the checks would call it unlocked (MG204)
        print(f"{path}: not locked: git's index does not have it; git add it, then commit")
    code = exits.of_problems(bool(left_out))
    # only a lock this run wrote is staged: staging one changed earlier would change what
    # `git diff` shows, which pre-commit reports as "files were modified by this hook"
    return (stage(lock) or code) if written else code


if __name__ == "__main__":
    raise SystemExit(main())
