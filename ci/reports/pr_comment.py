"""Findings as one pull-request comment: compact markdown a reviewer reads, updated in place.

The first line is a hidden marker (`<!-- migration-guard -->`, naming the project's folder and
config file when they are not the repository root and the default) by which the next run finds
the comment to update (ci.app.pr_comment); two jobs of a monorepo keep a comment each. Then a
one-line verdict, a table of counts per check, the findings with `file:line` links to the pull
request's head commit, and the schema changelog collapsed. GitHub refuses a comment over 65,536
characters: the findings and the changelog are cut to fit, with a line saying how many more the
job summary and the JUnit report hold.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ci.core.findings import Finding, Report
from ci.reports.github import RESULT_MARKS, workspace_relative
from ci.reports.text import change_line, printable, sentence

MARKER = "<!-- migration-guard"
LIMIT = 65_536  # GitHub's maximum comment body, in characters
BUDGET = 60_000  # what this module fills: the rest is margin for the lines that close sections
OPEN_FINDINGS = 10  # more findings than this go into a collapsed <details>
GROUP_FROM = 3  # this many findings of one code in one file are one item (the first shown)
LINES_SHOWN = 12  # of such a group's lines, in the item
MESSAGE_CHARS = 600  # one finding's message and hint, at most (a whole SQL text is not read)
COMMENT_STARTS = (MARKER.encode(),)  # a previous comment file, for the --pr-comment guard
# what GitHub would turn into a notification: `@user` or `@org/team`, not `a@b.c` (an address)
MENTION = re.compile(r"(?<![\w`])@\w[\w-]*(?:/\w[\w-]*)?")
INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}  # unicodedata categories a file name shows escaped


def marker(config: Path | None = None) -> str:
    """`<!-- migration-guard -->`, or `<!-- migration-guard: services/db config/x.yaml -->`."""
    folder = workspace_relative(os.getcwd())  # "." at the repository root
    parts = [] if folder == "." else [folder]
    if config is not None:
        parts.append(str(config))
    key = " ".join(p.replace("--", "- -").replace("\n", " ") for p in parts)
    return f"{MARKER}: {key} -->" if key else f"{MARKER} -->"


def to_pr_comment(reports: Sequence[Report], *, config: Path | None = None) -> str:
    """The whole comment body, under GitHub's limit whatever the number of findings."""
    head = [marker(config), _verdict(reports), "", *_counts(reports)]
    used = sum(len(line) + 1 for line in head)
    findings = _findings(reports, budget=BUDGET - used - 2_000)
    used += sum(len(line) + 1 for line in findings)
    changelog = _changelog(reports, budget=BUDGET - used)
    return printable("\n".join([*head, *findings, *changelog]) + "\n")


def _verdict(reports: Sequence[Report]) -> str:
    findings = [f for r in reports for f in r.findings]
    errors = sum(f.is_error for f in findings)
    warnings = len(findings) - errors
    crashed = [r.check for r in reports if any(c.error is not None for c in r.cases)]
    if any(r.failed for r in reports):
        said = [f"{errors} error{'s' if errors != 1 else ''}"] if errors else []
        if warnings:
            said.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        if crashed:
            said.append(f"could not run: {', '.join(crashed)}")
        return "### ❌ migration-guard: FAILED" + (f" ({', '.join(said)})" if said else "")
    tail = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
    return f"### ✅ migration-guard: passed{tail}"


def _counts(reports: Sequence[Report]) -> list[str]:
    lines = ["| check | result | passed | failed | warnings |", "|:--|:--|--:|--:|--:|"]
    for report in reports:
        outcomes = [c.outcome for c in report.cases]
        result = "error" if "error" in outcomes else "failed" if report.failed else "passed"
        warnings = sum(not f.is_error for f in report.findings)
        failed = outcomes.count("failed") + outcomes.count("error")
        lines.append(
            f"| {report.check} | {RESULT_MARKS[result]} | {outcomes.count('passed')} "
            f"| {failed} | {warnings} |"
        )
    return lines


def _findings(reports: Sequence[Report], *, budget: int) -> list[str]:
    """Errors first, each a list item with its link; collapsed when there are many."""
    crashes = [
        f"- 💥 **{r.check}** could not run: {_plain(printable(c.error or ''))}"
        for r in reports
        for c in r.cases
        if c.error is not None
    ]
    found = [f for r in reports for f in r.findings]
    found.sort(key=lambda f: not f.is_error)  # stable: each check's order is kept
    if not found and not crashes:
        return []
    links = _links()
    groups = _grouped(found)
    lines = itertools.chain(crashes, (_group_item(g, links) for g in groups))
    items, _ = _fitting(lines, len(crashes) + len(groups), budget)
    shown_groups = max(len(items) - len(crashes), 0)
    left = len(crashes) - (len(items) - shown_groups) + sum(map(len, groups[shown_groups:]))
    if left:
        items.append(f"- … {left} more in the job summary and the JUnit report")
    title = f"{len(found)} finding{'s' if len(found) != 1 else ''}"
    if len(items) <= OPEN_FINDINGS:
        return ["", f"#### {title}", "", *items]
    return ["", "<details>", f"<summary>{title}</summary>", "", *items, "", "</details>"]


def _fitting(lines: Iterable[str], total: int, budget: int) -> tuple[list[str], int]:
    """The leading lines that fit in `budget` characters, and how many of `total` did not.
    Lazily: with 10,000 findings, the ones that will not be shown are never formatted."""
    kept: list[str] = []
    used = 0
    for line in lines:
        used += len(line) + 1
        if used > budget:
            break
        kept.append(line)
    return kept, total - len(kept)


def _grouped(found: Sequence[Finding]) -> list[list[Finding]]:
    """Findings of one code in one file, together, in the order each group first appears:
    a layout rule broken on 40 lines of a real migration is one item, not 40."""
    groups: dict[tuple[bool, str, str | None], list[Finding]] = {}
    for finding in found:
        key = (finding.is_error, finding.code, None if finding.path is None else str(finding.path))
        groups.setdefault(key, []).append(finding)
    return list(groups.values())


def _group_item(group: list[Finding], links: tuple[str, str] | None) -> str:
    if len(group) < GROUP_FROM:
        return "\n".join(_item(f, links) for f in group)
    lines = sorted({f.line for f in group if f.line is not None})
    shown = ", ".join(str(n) for n in lines[:LINES_SHOWN]) + (
        ", …" if len(lines) > LINES_SHOWN else ""
    )
    first = _item(group[0], links)
    head, _, rest = first.partition(f"**{group[0].code}** ")
    count = f"({len(group)} findings" + (f", lines {shown})" if lines else ")")
    return f"{head}**{group[0].code}** {count} {rest}"


def _item(finding: Finding, links: tuple[str, str] | None) -> str:
    mark = "❌" if finding.is_error else "⚠️"
    where = _where(finding, links)
    text = sentence(finding.message)
    if finding.hint:
        text += f" To fix: {sentence(finding.hint)}"
    return f"- {mark} **{finding.code}** {where}{_plain(_cut(printable(text)))}"


def _where(finding: Finding, links: tuple[str, str] | None) -> str:
    """`[path:line](blob link) ` when the commit is known and the file is in the repository;
    the path as code otherwise. A file name comes from the pull request: whatever it holds
    (newlines, backticks, HTML, undecodable bytes) stays inside its code span or link."""
    if finding.path is None:
        return ""
    path = printable(workspace_relative(finding.path))
    label = _inert(path if finding.line is None else f"{path}:{finding.line}")
    if links is None or os.path.isabs(path) or path.startswith(".."):
        return f"{_code_span(label)} "
    from urllib.parse import quote

    base, sha = links
    anchor = "" if finding.line is None else f"#L{finding.line}"
    text = label.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"[{_plain(text)}]({base}/blob/{sha}/{quote(path)}{anchor}) "


def _inert(text: str) -> str:
    """Control and format characters (a newline, an escape, a right-to-left override, a line
    separator) written as their escapes (`\\n`): a file name is shown on one line as it is."""
    import unicodedata

    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in INVISIBLE else ch
        for ch in text
    )


def _code_span(text: str) -> str:
    """`text` as one markdown code span, backticks included (CommonMark: a fence longer than
    any run of backticks inside, and a space inside it when the text starts or ends with one)."""
    runs = [len(run) for run in "".join(c if c == "`" else " " for c in text).split()]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _links() -> tuple[str, str] | None:
    """(server/owner/repo, head commit) when running in GitHub Actions, else None."""
    server = os.environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    sha = head_sha()
    if not (server and repository and sha):
        return None
    return f"{server}/{repository}", sha


def head_sha() -> str | None:
    """The pull request's head commit (from the event), else GITHUB_SHA: on a pull_request
    event GITHUB_SHA is a merge commit that the next push replaces."""
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event:
        import json

        try:
            payload = json.loads(Path(event).read_text(encoding="utf-8"))
            sha = payload["pull_request"]["head"]["sha"]
            if isinstance(sha, str) and sha.isalnum():
                return sha
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not a pull request event: the commit that ran
    sha = os.environ.get("GITHUB_SHA", "")
    return sha if sha.isalnum() else None


def _changelog(reports: Sequence[Report], *, budget: int) -> list[str]:
    """`apply_empty --explain`'s changes, newest migration first, collapsed; with --base-ref
    only the migrations added or changed since it (the rest is history the base reviewed)."""
    changed = [c for r in reports for c in r.cases if c.changes]
    cases = [c for c in changed if not c.settled]  # the pull request's own, with --base-ref
    if not cases:
        return []
    lines: list[str] = []
    for case in reversed(cases):
        lines += [f"- **{_plain(printable(case.name))}**"]
        lines += [f"  - {_plain(_cut(change_line(change)))}" for change in case.changes]
    count = sum(len(c.changes) for c in cases)
    kept, left = _fitting(lines, len(lines), budget - 200)
    if left:
        kept.append(f"- … {left} more lines: `python -m ci.apply_empty --explain`")
    title = f"Schema changes ({count} in {len(cases)} migration{'s' if len(cases) != 1 else ''})"
    if len(changed) > len(cases):
        kept.append(
            f"- {len(changed) - len(cases)} earlier migrations, unchanged since the base ref: "
            "`python -m ci.apply_empty --explain`"
        )
    return ["", "<details>", f"<summary>{title}</summary>", "", *kept, "", "</details>"]


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _plain(text: str) -> str:
    """Text from the pull request (file names, SQL) as inert markdown on one line: no HTML and
    no @mention that would notify someone outside `code spans` (inside, both show literally)."""
    parts = text.replace("\r", "").replace("\n", " ").split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code span, the rest is plain text
        parts[-2:] = [parts[-2] + "\\`" + parts[-1]]
    for i in range(0, len(parts), 2):
        part = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        part = MENTION.sub(_mention_span, part)
        # a span beside one of the text's would merge with it into one run of backticks
        if i > 0 and part.startswith("`"):
            part = " " + part
        if i < len(parts) - 1 and part.endswith("`"):
            part += " "
        parts[i] = part
    return "`".join(parts)


def _mention_span(mention: re.Match[str]) -> str:
    """`@name` as a code span: GitHub notifies no one inside one, and copying it gives the text
    (`-- @irreversible` pasted into a migration still is the directive, which a zero-width
    space would hide)."""
    return f"`{mention[0]}`"


def pr_comment_refusal(
    path: Path, *, inputs: Sequence[Path | None] = (), migrations_dir: Path | None = None
) -> str | None:
    """Why --pr-comment PATH must not be written (one line), or None: see ci.reports.outputs."""
    from ci.reports import outputs

    return outputs.refusal(
        path,
        option="--pr-comment",
        kind="a pull-request comment",
        starts=COMMENT_STARTS,
        inputs=inputs,
        migrations_dir=migrations_dir,
    )


def write_pr_comment(reports: Sequence[Report], path: Path, *, config: Path | None) -> None:
    """Replace the file whole; the guard is asked again in case the file changed meanwhile."""
    from ci.reports import outputs

    body = to_pr_comment(reports, config=config)
    outputs.write_atomically(path, body, refused=pr_comment_refusal(path))
