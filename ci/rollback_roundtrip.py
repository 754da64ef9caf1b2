"""`python -m ci.rollback_roundtrip`: every rollback really undoes its migration (the logic:
ci/checks/rollback_roundtrip.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.cli import run_one
from ci.app.program import run_as_process
from ci.checks.rollback_roundtrip import CHECK


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(CHECK, argv)


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
