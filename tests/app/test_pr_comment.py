"""`--format pr-comment` and `python -m ci --pr-comment FILE`: the comment's markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ci.core.findings import Case, Finding, Report
from ci.reports.pr_comment import LIMIT, to_pr_comment
from tests.conftest import FIRST, M, WriteTree, commit_locked, output, run_in, write

BROKEN = {
    **FIRST,
    # no rollback (numbering), a column dropped (schema changes, lint)
    f"{M}/schema/0002_v.sql": "CREATE TABLE v (a INTEGER, b TEXT);\n",
    f"{M}/rollback/0002_rollback.sql": "DROP TABLE v;\n",
    f"{M}/schema/0003_drop.sql": "ALTER TABLE v DROP COLUMN b;\n",
}


def finding(n: int, **fields: object) -> Finding:
    values: dict[str, object] = {
        "check": "lint",
        "code": "MG501",
        "path": f"{M}/schema/{n:04d}_x.sql",
        "line": n,
        "message": f"finding number {n}",
        "hint": "fix it",
    }
    values.update(fields)
    return Finding(**values)  # type: ignore[arg-type]


def reports_with(findings: list[Finding]) -> list[Report]:
    return [
        Report("numbering", [Case("numbering", "numbering")]),
        Report("lint", [Case("lint", "lint", findings=findings)]),
    ]


def test_verdict_counts_and_plain_paths_outside_github(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    warning = finding(2, code="MG502", severity="warning", message="a risk")
    body = to_pr_comment(reports_with([finding(1), warning]))
    lines = body.splitlines()
    assert lines[0] == "<!-- migration-guard -->"
    assert lines[1] == "### ❌ migration-guard: FAILED (1 error, 1 warning)"
    assert "| numbering | ✅ passed | 1 | 0 | 0 |" in lines
    assert "| lint | ❌ failed | 0 | 1 | 1 |" in lines
    assert f"- ❌ **MG501** `{M}/schema/0001_x.sql:1` finding number 1. To fix: fix it." in lines
    assert f"- ⚠️ **MG502** `{M}/schema/0002_x.sql:2` a risk. To fix: fix it." in lines
    assert "](" not in body  # no link without a commit to point at
    passed = to_pr_comment([Report("numbering", [Case("numbering", "numbering")])])
    assert passed.splitlines()[1] == "### ✅ migration-guard: passed"


def test_links_point_at_the_pull_requests_head(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "feedbeef"}}}), "utf-8")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/app")
    monkeypatch.setenv("GITHUB_SHA", "0mergecommit")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    body = to_pr_comment(reports_with([finding(3, path=f"{M}/schema/0003 odd[1].sql")]))
    link = f"https://github.com/octo/app/blob/feedbeef/{M}/schema/0003%20odd%5B1%5D.sql#L3"
    assert f"[{M}/schema/0003 odd\\[1\\].sql:3]({link})" in body
    event.write_text("{}", "utf-8")  # a push: the commit that ran
    assert "/blob/0mergecommit/" in to_pr_comment(reports_with([finding(3)]))


def test_ten_thousand_findings_stay_under_githubs_limit() -> None:
    many = [finding(n, message="x" * 200) for n in range(10_000)]
    body = to_pr_comment(reports_with(many))
    assert len(body) < LIMIT
    shown = body.count("- ❌ **MG501**")
    assert 100 < shown < 10_000
    assert f"- … {10_000 - shown} more in the job summary and the JUnit report" in body
    assert "<details>\n<summary>10000 findings</summary>" in body
    assert body.rstrip().endswith("</details>")  # the section is closed after the cut


def test_text_from_the_pull_request_is_inert() -> None:
    hostile = finding(1, message="<img src=x onerror=alert(1)> ping @octo/admins", hint="")
    code = finding(2, message="declare `-- @irreversible <reason>` here", hint="")
    body = to_pr_comment(reports_with([hostile, code]))
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "`@octo/admins`" in body
    assert "`-- @irreversible <reason>`" in body  # code spans show their text as it is
    assert not re.search(r"(?<!\w)@\w", re.sub(r"`[^`]*`", "", body))  # no mention outside


def test_a_mention_is_a_code_span_that_copies_as_its_text() -> None:
    """MG401's fix `-- @irreversible <reason>`, not in backticks: a zero-width space in it came
    back in a migration, where the directive then did nothing."""
    fix = finding(1, message="no rollback", hint="declare -- @irreversible <reason>")
    beside = finding(2, message="@x`code` and `c`@y, mail a@b.org", hint="")
    body = to_pr_comment(reports_with([fix, beside]))
    assert "\u200b" not in body
    assert "declare -- `@irreversible` &lt;reason&gt;" in body
    assert "`@x` `code` and `c` `@y`, mail a@b.org" in body  # spans kept apart


def test_python_m_ci_writes_the_comment_beside_junit(git_repo: Path, write_tree: WriteTree) -> None:
    write_tree(BROKEN)
    commit_locked(git_repo, "migrations")
    done = run_in(git_repo, "ci", "--explain", "--junit", "j.xml", "--pr-comment", "c.md")
    assert done.returncode == 1, output(done)
    body = (git_repo / "c.md").read_text(encoding="utf-8")
    assert body.startswith("<!-- migration-guard -->\n### ❌ migration-guard: FAILED")
    assert "| numbering | ❌ failed |" in body and "| apply_empty |" in body
    assert re.search(rf"\*\*MG107\*\* `{M}/schema/0003_drop\.sql`", body), body
    # the reviewer's changelog, collapsed, newest migration first
    changes = body.split("<summary>Schema changes")[1]
    assert changes.index("0003") < changes.index("0002") < changes.index("0001")
    assert "column dropped: column v.b" in changes and "[MG602 error]" in changes
    assert (git_repo / "j.xml").read_text(encoding="utf-8").startswith("<?xml")


def test_format_pr_comment_on_one_check(git_repo: Path, write_tree: WriteTree) -> None:
    write_tree(BROKEN)
    done = run_in(git_repo, "ci.numbering", "--format", "pr-comment")
    assert done.returncode == 1, output(done)
    assert done.stdout.startswith("<!-- migration-guard -->\n### ❌ migration-guard: FAILED")
    assert "| numbering | ❌ failed | 0 | 1 | 0 |" in done.stdout


def test_a_monorepo_project_has_its_own_marker(git_repo: Path) -> None:
    project = git_repo / "services" / "db"
    write(project, {**FIRST, "guard.yaml": "checks: [numbering]\n"})
    done = run_in(
        project, "ci", "--config", "guard.yaml", "--pr-comment", "c.md",
        GITHUB_WORKSPACE=str(git_repo),
    )  # fmt: skip
    assert done.returncode == 0, output(done)
    first = (project / "c.md").read_text(encoding="utf-8").splitlines()[0]
    assert first == "<!-- migration-guard: services/db guard.yaml -->"


def test_the_comment_never_replaces_a_migration(git_repo: Path, write_tree: WriteTree) -> None:
    write_tree(FIRST)
    target = git_repo / M / "schema" / "0001_init.sql"
    before = target.read_bytes()
    done = run_in(git_repo, "ci", "--checks", "numbering", "--pr-comment", str(target))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "--pr-comment" in line and "inside the migrations directory" in line
    assert target.read_bytes() == before
    other = git_repo / "notes.md"
    other.write_text("my notes\n", encoding="utf-8")
    done = run_in(git_repo, "ci", "--checks", "numbering", "--pr-comment", str(other))
    assert done.returncode == 2 and "refusing to overwrite" in done.stderr
    assert other.read_text(encoding="utf-8") == "my notes\n"


def test_one_code_in_one_file_is_one_item(monkeypatch: pytest.MonkeyPatch) -> None:
    """A layout rule broken on every line of a real migration reads as one item, not a flood;
    two findings stay two items, and the cut counts findings, not items."""
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    path = f"{M}/schema/0001_x.sql"
    layout = [finding(n, code="LT01", path=path, message=f"space {n}") for n in range(4, 20)]
    pair = [finding(n, code="MG503", path=path) for n in (2, 3)]
    body = to_pr_comment(reports_with([*layout, *pair]))
    items = [line for line in body.splitlines() if line.startswith("- ")]
    assert items == [
        f"- ❌ **LT01** (16 findings, lines 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, …) "
        f"`{path}:4` space 4. To fix: fix it.",
        f"- ❌ **MG503** `{path}:2` finding number 2. To fix: fix it.",
        f"- ❌ **MG503** `{path}:3` finding number 3. To fix: fix it.",
    ]
    assert "#### 18 findings" in body
    many = [
        finding(n, message="x" * 500, path=f"{M}/schema/{n % 300:04d}_x.sql") for n in range(3000)
    ]
    cut = to_pr_comment(reports_with(many))
    shown = sum(int(m) for m in re.findall(r"\*\*MG501\*\* \((\d+) findings", cut))
    assert f"- … {3000 - shown} more in the job summary and the JUnit report" in cut


def test_with_a_base_ref_the_changelog_is_the_pull_requests_own(
    git_repo: Path, write_tree: WriteTree
) -> None:
    """A branch adds one migration to a long history: the comment's changelog lists that one
    and says how many earlier ones it left out, instead of the whole history on every PR."""
    write_tree({k: v for k, v in BROKEN.items() if "0003" not in k})
    base = commit_locked(git_repo, "history")
    write_tree({f"{M}/schema/0003_add.sql": "ALTER TABLE v ADD COLUMN c TEXT;\n"})
    write_tree({f"{M}/rollback/0003_rollback.sql": "ALTER TABLE v DROP COLUMN c;\n"})
    commit_locked(git_repo, "the pull request")
    done = run_in(git_repo, "ci", "--explain", "--base-ref", base, "--pr-comment", "c.md")
    body = (git_repo / "c.md").read_text(encoding="utf-8")
    changes = body.split("<summary>Schema changes")[1]
    assert changes.startswith(" (1 in 1 migration)</summary>"), output(done)
    assert "column added: column v.c" in changes and "0002" not in changes
    assert "- 2 earlier migrations, unchanged since the base ref" in changes
