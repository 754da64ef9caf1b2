"""`python -m ci.checksums`: edits to migration files that are already applied (the logic:
ci/checks/checksums.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.cli import run_one
from ci.app.program import run_as_process
from ci.checks.checksums import CHECK


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(CHECK, argv)


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
