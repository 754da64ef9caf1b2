"""SQL lint: sqlfluff plus the migration safety rules of `ci.checks.lint.rules`.

`python -m ci.lint [FILES...]` lints the given migration files (pre-commit passes the staged ones),
or every `.sql` file under the migrations directory. The work is in `ci.checks.lint`: sqlfluff runs
in this process, imported only when there is a file to lint, and the safety rules work on the
runner's statement split. With `--engine postgresql` (`engine: postgresql` in the config),
sqlfluff uses its postgres dialect and squawk's rules (MG7xx) replace the SQLite-only ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.cli import run_one
from ci.app.program import run_as_process
from ci.checks.lint_check import CHECK


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(CHECK, argv)


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
