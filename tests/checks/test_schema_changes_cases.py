"""Every case of every schema-change code (ci/checks/schema_cases.py) through apply_empty.

Each case is two real migrations on a real throwaway database, as `python -m ci.apply_empty`
runs them; a "silenced" case must be reported once its noqa comment is taken out, so it cannot
pass by saying nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.checks.apply_empty import apply_empty
from ci.checks.db_options import Options
from ci.checks.schema_cases import CASES, SchemaCase
from ci.core.codes import BY_CODE
from ci.core.findings import Finding
from ci.db.schema_change import ERRORS

ALL = [(code, case) for code, cases in CASES.items() for case in cases]


def options() -> Options:
    return Options(setup=None, invariants=None, snapshot=None, write_snapshot=False, warn_slow=300)


def found(root: Path, case: SchemaCase, change: str) -> list[Finding]:
    """The findings of the case's second migration (the one analysed)."""
    migrations = root / "m" / "schema"
    migrations.mkdir(parents=True, exist_ok=True)
    for old in migrations.iterdir():
        old.unlink()
    if case.before:
        (migrations / "0001_before.sql").write_text(case.before, encoding="utf-8")
    name = "0002_change.sql" if case.before else "0001_change.sql"
    (migrations / name).write_text(change, encoding="utf-8")
    report = apply_empty(root / "m", options())
    other = [f for f in report.findings if not f.code.startswith("MG6")]
    assert not other, other  # the case's SQL itself must apply
    return [f for f in report.findings if f.path and f.path.endswith(name)]


@pytest.mark.parametrize(("code", "case"), ALL, ids=[f"{c}-{k.name}" for c, k in ALL])
def test_case(tmp_path: Path, code: str, case: SchemaCase) -> None:
    findings = [f for f in found(tmp_path, case, case.change) if f.code == code]
    if case.expect == "fail":
        assert findings, f"{code} not reported"
        if case.line is not None:
            assert findings[0].line == case.line
        if case.says is not None:
            assert case.says in findings[0].message, findings[0].message
        assert findings[0].severity == ("error" if code in ERRORS else "warning")
    else:
        assert findings == []
    if case.expect == "silenced":
        unwaived = case.change.replace("noqa:", "note:")
        assert [f for f in found(tmp_path, case, unwaived) if f.code == code], "noqa is not used"


def test_every_code_has_failing_and_passing_cases() -> None:
    schema_codes = {code for code in BY_CODE if code.startswith("MG6")}
    assert set(CASES) == schema_codes
    for code, cases in CASES.items():
        assert {"fail", "pass"} <= {c.expect for c in cases}, code
