"""`python -m ci.postcheck --db PATH --expect-version N [--invariants FILE]`: did the migration
leave the database as intended? (the post-migration check): version match,
integrity_check, foreign_key_check, no dirty marks, invariants. Read-only.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.cli import run_one
from ci.app.program import run_as_process
from ci.checks.postcheck import CHECK


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(CHECK, argv)


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
