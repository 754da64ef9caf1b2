"""`ci.migrate --status` as text: the version line, the applied rows with the state of each
file, what is pending, the dirty marks and, with --detect, what looks applied already.

Formatting only: what is shown is read by ci.db.status.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.db.bookkeeping import head_version

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

    from ci.core.model import Migration
    from ci.db.baseline import Step
    from ci.db.bookkeeping import AppliedRow
    from ci.db.status import Detection, Status

SHOWN_PER_STEP = 3  # --detect: differences shown for one migration (the baseline shows all)


def write_status(status: Status, out: TextIO) -> None:
    db, catalog, rows = status.db, status.catalog, status.rows
    for line in status.problems:  # a run refuses these: say so before the rows
        print(f"PROBLEM: {line}", file=out)
    if rows is None:
        print(f"{db}: no database yet (nothing applied)", file=out)
        write_pending(status.pending, out)
        if status.detect:
            print(f"detect: no database at {db} to compare with", file=out)
        return
    current = head_version(rows)
    print(f"{db}: version {current:04d} (head of {catalog.root}: {catalog.head:04d})", file=out)
    print(f"applied ({len(rows)}):", file=out)
    # one write for all rows, not a print each: a thousand applied rows is the common case
    out.write(
        "".join(_applied_line(row, state) for row, state in zip(rows, status.states, strict=True))
    )
    write_pending(status.pending, out)
    for line in status.dirty:
        print(f"DIRTY: {line}", file=out)
    if not status.dirty:
        print("dirty: none", file=out)
    if status.detection is not None:
        write_detection(status.detection, db=str(db), out=out)


# one %-format per line, not an f-string of seven formatted fields (1,000 lines per --status)
APPLIED_LINE = "  %-9s %-6s %-32s %-24s %9s %10s rows  %s\n"


def _applied_line(row: AppliedRow, state: str) -> str:
    rows, ms = row.rows_affected, row.execution_time_ms
    return APPLIED_LINE % (
        row.label,
        row.migration_type,
        row.description,
        row.applied_at or "?",
        "?" if ms is None else f"{ms:,} ms",
        "?" if rows is None else f"{rows:,}",
        state,
    )


def write_pending(pending: Sequence[Migration], out: TextIO) -> None:
    if not pending:
        print("pending: none", file=out)
        return
    print(f"pending ({len(pending)}):", file=out)
    for m in pending:
        print(f"  {m.label:<9} {m.kind:<6} {m.path}", file=out)


def write_detection(detection: Detection, *, db: str, out: TextIO) -> None:
    """Each pending migration's comparison, and which of them to adopt with --baseline."""
    steps, failure = detection.steps, detection.failure
    if not steps and failure is None:
        print("detect: nothing pending to compare", file=out)
        return
    print(
        "detect: each pending migration applied to a scratch database (after those before "
        f"it) and compared with {db}:",
        file=out,
    )
    for s in steps:
        m = s.migration
        print(f"  {m.label:<9} {m.kind:<6} {m.path}: {_verdict(s)}", file=out)
    if failure is not None:
        print(f"detect: stopped: {failure}", file=out)
    found = detection.looks_applied
    if not found:
        print("detect: no pending migration looks applied", file=out)
        return
    span = f"{found[0].migration.label}..{found[-1].migration.label}"
    if detection.any_applied:
        print(
            f"detect: {span} look applied, but the database already records migrations; "
            "check it by hand (--baseline records only a database's first migrations)",
            file=out,
        )
        return
    option = "--database-url" if db.startswith(("postgresql:", "postgres:")) else "--db"
    print(
        f"detect: {span} look applied: adopt them with python -m ci.migrate {option} {db} "
        f"--baseline {found[-1].migration.version}, then migrate",
        file=out,
    )


def _verdict(step: Step) -> str:
    if not step.changes_schema:
        return "changes no table, index, view or trigger (cannot be told from the schema)"
    if not step.differences:
        return "looks applied (the database has that shape)"
    shown = "; ".join(step.differences[:SHOWN_PER_STEP])
    more = len(step.differences) - SHOWN_PER_STEP
    return f"differs: {shown}" + (f" (+{more} more)" if more > 0 else "")
