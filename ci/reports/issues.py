"""The run as a flat list of issues with stable fingerprints, for SARIF and GitLab Code Quality.

Both formats want what code-scanning tools track across pushes: one entry per finding, a path
relative to the repository root, and a fingerprint that stays the same when the finding only
moves. A check that could not run is an issue too (rule `could-not-run`, at the config file or
the migrations directory), so a broken run never looks like a clean one.

The fingerprint hashes the code, the file, the message with its numbers masked (line numbers,
times, row counts change between pushes; the finding does not) and the text of the line the
finding points at, whitespace collapsed: a statement that moves down three lines keeps it, an
edit to the statement changes it. Two findings that would still hash alike get `:2`, `:3`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from ci.core.findings import Report
from ci.reports.text import printable, sentence

COULD_NOT_RUN = "could-not-run"
# Any run of digits (with the separators of "1,204" and "0.31"): masked in fingerprints.
_NUMBER = re.compile(r"\d[\d,.]*")
_SPACE = re.compile(r"\s+")


class Issue:
    """One result: a finding, or a check that could not run. `path` is relative to `root`."""

    __slots__ = ("check", "fingerprint", "level", "line", "message", "path", "rule")

    def __init__(
        self, rule: str, check: str, path: str | None, line: int | None, message: str, level: str
    ) -> None:
        self.rule = rule
        self.check = check
        self.path = path
        self.line = line
        self.message = message
        self.level = level  # SARIF's words: error, warning, note
        self.fingerprint = ""


def repository_root() -> Path:
    """Where result paths start: $GITHUB_WORKSPACE in Actions, else the git top level, else
    the current directory (a project that is not a git checkout)."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        return Path(workspace).resolve()
    import subprocess

    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
        )
    except OSError:  # no git installed
        return Path.cwd().resolve()
    top = done.stdout.strip()
    return Path(top).resolve() if done.returncode == 0 and top else Path.cwd().resolve()


def relative_to(root: Path, path: str) -> str:
    """`path` (relative to the current directory, or absolute) from `root`, with forward
    slashes; a path outside `root` stays as it was given."""
    relative = os.path.relpath(os.path.abspath(path), root)
    if relative == ".." or relative.startswith(".." + os.sep):
        return Path(path).as_posix()
    return Path(relative).as_posix()


def issues_of(reports: Sequence[Report], *, root: Path, anchor: str | None) -> list[Issue]:
    """Every finding and every check that could not run, in report order, fingerprinted.
    `anchor` (the config file or the migrations directory) stands in for a missing path."""
    found = list(_issues(reports, root=root, anchor=anchor))
    lines = _SourceLines(root)
    seen: dict[str, int] = {}
    for issue in found:
        digest = fingerprint(issue, lines.text(issue.path, issue.line))
        seen[digest] = seen.get(digest, 0) + 1
        issue.fingerprint = digest if seen[digest] == 1 else f"{digest}:{seen[digest]}"
    return found


def _issues(reports: Sequence[Report], *, root: Path, anchor: str | None) -> Iterator[Issue]:
    where = None if anchor is None else printable(relative_to(root, anchor))
    for report in reports:
        for case in report.cases:
            if case.error is not None:
                message = printable(f"{report.check} could not run: {case.error or 'error'}")
                yield Issue(COULD_NOT_RUN, report.check, where, None, message, "error")
            for f in case.findings:
                path = where if f.path is None else printable(relative_to(root, f.path))
                message = sentence(f.message)
                if f.hint:
                    message += f" To fix: {sentence(f.hint)}"
                message = printable(message)
                level = {"error": "error", "warning": "warning"}.get(f.severity, "note")
                yield Issue(f.code, f.check, path, f.line, message, level)


def fingerprint(issue: Issue, source: str) -> str:
    """sha256 over what identifies the finding and not where it is (see the module's doc)."""
    import hashlib

    masked = _SPACE.sub(" ", _NUMBER.sub("#", issue.message)).strip()
    parts = (issue.rule, issue.check, issue.path or "", masked, source)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


class _SourceLines:
    """The text of a file's line, whitespace collapsed; each file read once, "" when it
    cannot be read (a directory named *.sql, a deleted file, a binary one)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, list[str]] = {}

    def text(self, path: str | None, line: int | None) -> str:
        if path is None or line is None or line < 1:
            return ""
        if path not in self.files:
            try:
                data = (self.root / path).read_bytes()
            except OSError:
                data = b""
            self.files[path] = data.decode("utf-8", errors="replace").splitlines()
        lines = self.files[path]
        return _SPACE.sub(" ", lines[line - 1]).strip() if line <= len(lines) else ""


def json_text(document: object) -> str:
    """A report document as the files hold it: indented, non-ASCII kept, and printable (an
    undecodable file name escaped, as every format writes it)."""
    import json

    from ci.reports.text import printable_json

    return printable_json(json.dumps(document, indent=2, ensure_ascii=False))
