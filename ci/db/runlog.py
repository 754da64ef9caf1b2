"""What one `ci.migrate` run did, as data, for the machine-readable outputs (`--format json`,
`--format github`; ci.reports.runner_json and ci.reports.runner_github format it).

The operations in ci.db.deploy print their human lines as before and, when given a RunLog, tell
it each step, each committed group, the backup and the failure; ci.migrate adds how the run
ended (outcome, exit code, the error). A text run has no RunLog and pays nothing for it.
"""

from __future__ import annotations

from ci.core.findings import Record
from ci.core.model import Catalog, Migration
from ci.db.outcomes import MigrationFailed, Outcome


class RunError(Record):
    """Why a run did not end well: `kind` is 'migration-failed', 'refused', 'could-not-run' or
    'interrupted'; `lines` holds every line of a refusal (each names its file)."""

    FIELDS = ("kind", "message", "file", "line", "lines", "left_dirty", "group", "hint")
    __slots__ = FIELDS

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        lines: list[str] | None = None,
        left_dirty: str | None = None,
        group: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.kind = kind
        self.message = message
        self.file = file
        self.line = line
        self.lines = lines if lines is not None else [message]
        self.left_dirty = left_dirty
        self.group = group
        self.hint = hint

    @classmethod
    def of_failure(cls, failure: MigrationFailed) -> RunError:
        """A migration (or rollback, or group) that failed: its file and line."""
        return cls(
            "migration-failed",
            failure.message,
            file=failure.path,
            line=failure.line,
            left_dirty=failure.left_dirty,
            group=failure.group,
            hint=getattr(failure, "hint", None),  # a Runaway says how to make it end
        )


class RunLog:
    """Filled while the run goes: the command and its database, the plan, each step's
    outcome, each committed group (its outcomes and seconds), the backup taken, the error;
    `status` is what the database says (read for --status, or again after a change)."""

    def __init__(
        self,
        command: str | None,
        database: str,
        *,
        dry_run: bool = False,
        options: dict[str, object] | None = None,
        output_format: str = "json",
    ) -> None:
        # 'status', 'apply', 'rollback', 'force-clean', 'baseline'; None: the line was refused
        self.command = command
        self.database = database
        self.dry_run = dry_run
        self.options = options or {}  # what shaped the run: target, rollback, group, resume
        self.output_format = output_format  # 'json' or 'github'
        self.catalog: Catalog | None = None
        self.planned: list[Migration] | None = None  # a dry run's or a rollback's plan
        self.steps: list[Outcome] = []
        self.groups: list[tuple[list[Outcome], float]] = []
        self.backup: str | None = None
        self.error: RunError | None = None
        self.exit_code = 0
        # a ci.db.status.Status, not imported here: ci.db.status imports (for types) the
        # baseline, which imports ci.db.deploy, which is told about this log: a cycle
        self.status: object = None

    def outcome(self, outcome: Outcome) -> None:
        self.steps.append(outcome)

    def group(self, outcomes: list[Outcome], seconds: float) -> None:
        self.groups.append((list(outcomes), seconds))

    def failed(self, failure: MigrationFailed) -> None:
        self.error = RunError.of_failure(failure)
