"""Findings as SARIF 2.1.0, the format of GitHub code scanning and most static-analysis viewers.

One run: the tool with one rule per finding code (from `ci.core.codes`, with its title, its fix
and its page), one result per issue (`ci.reports.issues`): level, message, the file relative to
the repository root (`uriBaseId` SRCROOT) with its line, and a `partialFingerprints` entry that
survives a finding moving down the file. A check that could not run is a `could-not-run` result
and a tool execution notification, and makes `executionSuccessful` false.

Valid against the OASIS schema vendored in tests/data/schemas/. `informationUri` and `helpUri`
are only written when the installed package declares a home page (`[project.urls]`): the
project has no public address yet, and an invented one would send readers nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ci.core.codes import CODES, Code
from ci.core.findings import Report
from ci.reports.issues import COULD_NOT_RUN, Issue, issues_of, json_text, repository_root

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FINGERPRINT_KEY = "migrationGuard/v1"
# What a previous SARIF file of ours starts with: only that (or an empty file) is overwritten.
SARIF_STARTS = (b'{\n  "$schema": "' + SCHEMA_URI.encode(),)
COULD_NOT_RUN_PAGE = "docs/reports.md"
# Codes outside the registry are sqlfluff's rules (LT01, PRS, ...); their pages live there
# (the lint check's adapter names the same page in its hints).
SQLFLUFF_RULES_URL = "https://docs.sqlfluff.com/en/stable/reference/rules.html"


def sarif_document(
    reports: Sequence[Report],
    *,
    anchor: str | None = None,
    root: Path | None = None,
    home: str | None = None,
) -> dict[str, object]:
    """The SARIF log of a run. `anchor`: the path for issues without a file; `home`: the
    project's web address (default: the package metadata's, if any)."""
    from ci import __version__

    root = repository_root() if root is None else root
    home = project_home() if home is None else home or None
    issues = issues_of(reports, root=root, anchor=anchor)
    rules = [_rule(code, home) for code in CODES] + [_could_not_run_rule(home)]
    known = {rule["id"] for rule in rules}
    rules += [_sqlfluff_rule(r) for r in dict.fromkeys(i.rule for i in issues) if r not in known]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    driver: dict[str, object] = {"name": "migration-guard", "version": __version__}
    driver["semanticVersion"] = __version__
    if home:
        driver["informationUri"] = home
    driver["rules"] = rules
    failures = [i for i in issues if i.rule == COULD_NOT_RUN]
    run: dict[str, object] = {
        "tool": {"driver": driver},
        "invocations": [_invocation(failures)],
        "originalUriBaseIds": {"SRCROOT": {"uri": root.as_uri().rstrip("/") + "/"}},
        "results": [_result(issue, index) for issue in issues],
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def sarif_string(reports: Sequence[Report], *, anchor: str | None = None) -> str:
    return json_text(sarif_document(reports, anchor=anchor))


def sarif_refusal(
    path: Path, *, inputs: Sequence[Path | None] = (), migrations_dir: Path | None = None
) -> str | None:
    """Why --sarif PATH must not be written (one line), or None: see ci.reports.outputs."""
    from ci.reports import outputs

    return outputs.refusal(
        path,
        option="--sarif",
        kind="a SARIF report of migration-guard",
        starts=SARIF_STARTS,
        inputs=inputs,
        migrations_dir=migrations_dir,
    )


def write_sarif(reports: Sequence[Report], path: Path, *, anchor: str | None = None) -> None:
    """Replace the file whole; the guard is asked again in case it changed meanwhile."""
    from ci.reports import outputs

    text = sarif_string(reports, anchor=anchor) + "\n"
    outputs.write_atomically(path, text, refused=sarif_refusal(path))


def project_home() -> str | None:
    """The home page the installed package declares (`[project.urls]`), else None."""
    from importlib import metadata

    try:
        urls = metadata.metadata("migration-guard").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "home", "source", "repository"):
            return str(url).strip()
    return None


def rule_level(code: Code) -> str:
    """A code whose title starts with "warning:" is reported as a warning, else an error."""
    return "warning" if code.title.startswith("warning:") else "error"


def _rule(code: Code, home: str | None) -> dict[str, object]:
    title = code.title.removeprefix("warning: ").removeprefix("error: ")
    link = _link(code.page, home)
    rule: dict[str, object] = {
        "id": code.code,
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"{title} (reported by {', '.join(code.checks)})"},
        "help": {
            "text": f"To fix: {code.hint}. More: {code.page}",
            "markdown": f"**To fix:** {code.hint}.\n\nMore: {link}",
        },
        "defaultConfiguration": {"level": rule_level(code)},
        "properties": {"checks": list(code.checks), "page": code.page},
    }
    if home:
        rule["helpUri"] = _page_url(code.page, home)
    return rule


def _could_not_run_rule(home: str | None) -> dict[str, object]:
    page = COULD_NOT_RUN_PAGE
    rule: dict[str, object] = {
        "id": COULD_NOT_RUN,
        "shortDescription": {
            "text": "a check could not run (bad argument, missing directory, "
            "unreadable config, or a crash)"
        },
        "help": {
            "text": f"To fix: what the message names, then run again. More: {page}",
            "markdown": "**To fix:** what the message names, then run again.\n\n"
            f"More: {_link(page, home)}",
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {"page": page},
    }
    if home:
        rule["helpUri"] = _page_url(page, home)
    return rule


def _sqlfluff_rule(code: str) -> dict[str, object]:
    return {
        "id": code,
        "shortDescription": {"text": f"sqlfluff rule {code} (lint)"},
        "helpUri": SQLFLUFF_RULES_URL,
        "help": {
            "text": f"See {code} at {SQLFLUFF_RULES_URL}, or end the line with -- noqa: {code}"
        },
        "properties": {"checks": ["lint"]},
    }


def _link(page: str, home: str | None) -> str:
    """A markdown link to the page on the project's site when it has one; else the page's path
    in migration-guard's repository, as text (a relative link would point into the user's)."""
    if not home:
        return f"`{page}` in migration-guard's documentation"
    return f"[{page}]({_page_url(page, home)})"


def _page_url(page: str, home: str) -> str:
    return f"{home.rstrip('/')}/blob/main/{page}"


def _invocation(failures: Sequence[Issue]) -> dict[str, object]:
    invocation: dict[str, object] = {"executionSuccessful": not failures}
    if failures:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": issue.message}} for issue in failures
        ]
    return invocation


def _result(issue: Issue, index: dict[object, int]) -> dict[str, object]:
    result: dict[str, object] = {"ruleId": issue.rule, "ruleIndex": index[issue.rule]}
    result["level"] = issue.level
    result["message"] = {"text": issue.message}
    if issue.path is not None:
        result["locations"] = [_location(issue)]
    result["partialFingerprints"] = {FINGERPRINT_KEY: issue.fingerprint}
    result["properties"] = {"check": issue.check}
    return result


def _location(issue: Issue) -> dict[str, object]:
    from urllib.parse import quote

    assert issue.path is not None
    physical: dict[str, object] = {
        "artifactLocation": {"uri": quote(issue.path, safe="/"), "uriBaseId": "SRCROOT"}
    }
    if issue.line is not None and issue.line >= 1:
        physical["region"] = {"startLine": issue.line}
    return {"physicalLocation": physical}
