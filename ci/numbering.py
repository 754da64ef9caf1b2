"""`python -m ci.numbering`: numbering gaps and reuse, names, rollback pairing (the logic:
ci/checks/numbering.py).

Reads names, not contents: a file is opened only when it has no rollback, to see whether it
declares `@irreversible`. Never opens a database. Every finding of a run is reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.cli import run_one, run_program
from ci.checks.numbering import CHECK


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(CHECK, argv)


if __name__ == "__main__":
    raise SystemExit(run_program(main))
