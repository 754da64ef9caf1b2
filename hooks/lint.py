"""pre-commit hook `migration-lint`: `python -m hooks.lint [FILES]` (SPEC 5.5, 7).

Unlike the whole-directory checks, lint answers per file: it lints exactly the files pre-commit
passes (`pass_filenames: true`), and returns 0 at once, before importing sqlfluff, when none of
them is under the migrations directory.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci import lint


def main(argv: Sequence[str] | None = None) -> int:
    return lint.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
