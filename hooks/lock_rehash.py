"""pre-commit hook `migration-lock-rehash` (manual stage): accept comment-only edits of applied
migrations, for users who installed migration-guard only through pre-commit.

    pre-commit run migration-lock-rehash --hook-stage manual --files FILE

Rewrites the lock entry of each given file whose edit changed only comments or whitespace (with
the same warning as `ci.checksums --rehash`), then stages the lock. A file whose statements
changed is refused, one line each, exit 1: a run over all files (`pre-commit run --hook-stage
manual --all-files`) must not accept a real edit of an applied migration. Files whose entry is
current, or that the lock lacks (`migration-lock-update` adds them), are left alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ci.app import exits
from ci.app.cli import parse, parser_of
from ci.app.precommit import stage
from ci.checks.checksums import CHECK, engine_of
from ci.checks.checksums_lock import accept_comment_edits
from ci.core import fixes, lockfile
from ci.core.model import InputError

HOOK = "migration-lock-rehash"


def main(argv: Sequence[str] | None = None) -> int:
    tokens = list(sys.argv[1:] if argv is None else argv)
    with fixes.run_by_pre_commit():
        args = parse(parser_of(CHECK), tokens)
        lock = args.lock or lockfile.default_path(args.migrations_dir)
        try:
            rewritten, refused = accept_comment_edits(
                args.migrations_dir, lock, [str(f) for f in args.files], engine_of(args)
            )
        except InputError as error:
            print(f"{HOOK}: {error}", file=sys.stderr)
            return exits.COULD_NOT_RUN
    for line in refused:
        print(line)
    code = exits.of_problems(bool(refused))
    return (stage(lock) or code) if rewritten else code


if __name__ == "__main__":
    raise SystemExit(main())
