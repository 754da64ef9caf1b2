"""`python -m ci.precheck --db PATH`: is this database fit to migrate? (the
pre-migration check): integrity_check, foreign_key_check, size, journal mode, dirty marks.

Read-only: the database is opened with `mode=ro` and never written.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.cli import run_one
from ci.app.program import run_as_process
from ci.checks.precheck import CHECK


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(CHECK, argv)


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
