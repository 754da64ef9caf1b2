"""Findings and test cases: what every check produces, before any formatting (STYLE habit 3)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One thing wrong, with where it is and how to fix it."""

    check: str
    code: str
    path: str | None
    line: int | None
    message: str
    hint: str = ""
    severity: str = "error"  # "error" fails the check; "warning" is reported and passes

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass
class Case:
    """One JUnit test case: a migration applied, an invariant, a rule, or a static finding."""

    name: str
    classname: str
    time: float = 0.0
    path: str | None = None
    line: int | None = None
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None  # the check itself crashed: <error>, not <failure>
    kind: str | None = None  # migration kind, for the summary table
    rows: int | None = None

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return "error"
        if any(f.is_error for f in self.findings):
            return "failed"
        if self.skipped is not None:
            return "skipped"
        return "passed"


@dataclass
class Report:
    """Everything one check found in one run."""

    check: str
    cases: list[Case] = field(default_factory=list)

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
