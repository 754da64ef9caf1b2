"""pre-commit hook `migration-lint`: `python -m hooks.lint [FILES]`.

Unlike the whole-directory checks, lint answers per file: it lints exactly the files pre-commit
passes (`pass_filenames: true`), and returns 0 at once, before importing sqlfluff, when none of
them is under the migrations directory. At pre-push it lints them as they are in the pushed
commit (PRE_COMMIT_TO_REF), as the other hooks do; a first push (no FROM/TO refs, see
ci/app/precommit.py) lints every file of the pushed commit's migrations directory.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ci import lint
from ci.app import exits
from ci.app.cli import parse, parser_of, reader_may_leave, run_declared
from ci.app.precommit import could_not_run, handed_files, judged_commit
from ci.checks.lint_check import CHECK
from ci.core.gitrefs import RefError, hook_refs


def main(argv: Sequence[str] | None = None) -> int:
    reader_may_leave()
    tokens = list(sys.argv[1:] if argv is None else argv)
    from_ref, to_ref = hook_refs()
    if to_ref is None:
        return lint.main(tokens)
    if from_ref and not any(token.endswith(".sql") for token in tokens):
        return exits.CLEAN  # no SQL file: no checkout
    try:
        with judged_commit(to_ref):
            args = parse(parser_of(CHECK), tokens)  # parsed once: lint runs on these
            files = handed_files(args.files, from_ref, to_ref)
            args.files = [f for f in files if f.exists()]  # not those the push deletes
            if files and not args.files:
                return exits.CLEAN
            return run_declared(CHECK, args)
    except RefError as error:
        return could_not_run(CHECK.name, error)


if __name__ == "__main__":
    raise SystemExit(main())
