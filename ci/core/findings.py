"""Findings and test cases: what every check produces, before any formatting.

Plain classes with `__slots__`, not dataclasses: `import dataclasses` pulls in `inspect` (~12 ms)
and each decorated class costs ~1 ms more, all before `ci.numbering` and `ci.checksums` do any
work, whose whole process is budgeted at 2x `python -c "import sqlite3"`. They keep what the
dataclasses gave: the same constructors (positional and keyword), `==`, `repr`, and a hashable
`Finding`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any, ClassVar

# A migration that ran away, in any database check: still running after --statement-timeout, or
# a @batch that keeps changing rows it already changed (it would never end).
RUNAWAY = "MG311"


class Record:
    """Base of the plain record classes here and in `ci.core.model`: `==`, `hash` and `repr` over
    `FIELDS`, as `@dataclass` would generate them. A mutable record sets `__hash__ = None`."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({fields})"


class Finding(Record):
    """One thing wrong, with where it is and how to fix it. Treated as immutable."""

    FIELDS = ("check", "code", "path", "line", "message", "hint", "severity")
    __slots__ = FIELDS

    def __init__(
        self,
        check: str,
        code: str,
        path: str | None,
        line: int | None,
        message: str,
        hint: str = "",
        severity: str = "error",  # "error" fails the check; "warning" is reported and passes
    ) -> None:
        self.check = check
        self.code = code
        self.path = path
        self.line = line
        self.message = message
        self.hint = hint
        self.severity = severity

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class Case(Record):
    """One JUnit test case: a migration applied, an invariant, a rule, or a static finding."""

    FIELDS = (
        "name",
        "classname",
        "time",
        "path",
        "line",
        "findings",
        "skipped",
        "error",
        "kind",
        "rows",
    )
    # changes: the schema changes of a migration case (ci.db.schema_changes.Change records),
    # set by `apply_empty --explain` for the changelog; not compared (what it found is findings).
    # impact: apply_sample --prod-stats' estimate for a migration (ci.checks.impact), JSON-ready
    # settled: the migration is as it was at the --base-ref (history, not the change under
    # review): the pull-request comment's changelog leaves its changes out
    __slots__ = (*FIELDS, "changes", "impact", "settled")

    def __init__(
        self,
        name: str,
        classname: str,
        time: float = 0.0,
        path: str | None = None,
        line: int | None = None,
        findings: list[Finding] | None = None,
        skipped: str | None = None,
        error: str | None = None,  # the check itself crashed: <error>, not <failure>
        kind: str | None = None,  # migration kind, for the summary table
        rows: int | None = None,
    ) -> None:
        self.name = name
        self.classname = classname
        self.time = time
        self.path = path
        self.line = line
        self.findings: list[Finding] = [] if findings is None else findings
        self.skipped = skipped
        self.error = error
        self.kind = kind
        self.rows = rows
        self.changes: tuple[Any, ...] = ()
        self.impact: dict[str, Any] | None = None
        self.settled = False

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return "error"
        findings = self.findings
        if findings and any(f.is_error for f in findings):  # most cases have none
            return "failed"
        if self.skipped is not None:
            return "skipped"
        return "passed"

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was


class Report(Record):
    """Everything one check found in one run."""

    FIELDS = ("check", "cases")
    __slots__ = (*FIELDS, "time")  # time is how long it took, not what it found: not compared

    def __init__(
        self, check: str, cases: list[Case] | None = None, time: float | None = None
    ) -> None:
        self.check = check
        self.cases: list[Case] = [] if cases is None else cases
        self.time = time  # the check's wall time in seconds; None: the sum of its cases'

    @property
    def findings(self) -> list[Finding]:
        return [f for case in self.cases for f in case.findings]

    @property
    def failed(self) -> bool:
        return any(case.outcome in ("failed", "error") for case in self.cases)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    @classmethod
    def from_findings(cls, check: str, findings: list[Finding], *, passed: str) -> Report:
        """One case per finding; one passing case named `passed` when there is none."""
        cases = [
            Case(
                name=f"{f.code} {f.path or ''}".strip(),
                classname=check,
                path=f.path,
                line=f.line,
                findings=[f],
            )
            for f in findings
        ]
        return cls(check, cases or [Case(name=passed, classname=check)])

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was
