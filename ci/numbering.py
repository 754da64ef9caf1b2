"""`python -m ci.numbering`: numbering gaps and reuse, names, rollback pairing (the logic:
ci/checks/numbering.py).

Reads names, and of main-track migrations only whether they declare `@irreversible` (required
without a rollback file, MG107; contradicted by one, MG112). Never opens a database. Every
finding of a run is reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.cli import run_one
from ci.app.program import run_as_process
from ci.checks.numbering import CHECK


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(CHECK, argv)


if __name__ == "__main__":
    raise SystemExit(run_as_process(main))
