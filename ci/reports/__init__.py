"""Findings -> text, JUnit XML, GitHub annotations / summary / outputs, JSON.

The only package that formats output. Every writer takes the same `Report` list, so the text a
developer reads, the JUnit file Jenkins reads and the annotations GitHub shows never disagree.
One module per format (`text`, `junit`, `github`, `json`) and `outputs` for the files written on
request; this module chooses among them (`emit`) and names what callers use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

# json, uuid, datetime and xml.etree are imported where used: numbering and checksums must start
# in under 2x `python -c "import sqlite3"`, and together they cost ~30 ms at import.
from ci.core.findings import Report
from ci.reports.github import (
    annotation,
    append_step_summary,
    error_annotation,
    escape_data,
    escape_property,
    github_files,
    summary_markdown,
    write_github,
    write_outputs,
)
from ci.reports.json import to_json
from ci.reports.junit import junit_refusal, junit_string, suite_seconds, write_junit
from ci.reports.text import summary_line, text_line, use_colour, write_text

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

__all__ = [
    "FORMATS",
    "annotation",
    "append_step_summary",
    "emit",
    "error_annotation",
    "escape_data",
    "escape_property",
    "github_files",
    "junit_refusal",
    "junit_string",
    "resolve_format",
    "stdout_to_devnull",
    "suite_seconds",
    "summary_line",
    "summary_markdown",
    "text_line",
    "to_json",
    "use_colour",
    "write_github",
    "write_junit",
    "write_outputs",
    "write_text",
]

FORMATS: tuple[str, ...] = ("text", "github", "json")
FORMATS += ("pr-comment",)  # ci.reports.pr_comment, imported when asked for
FORMATS += ("sarif", "gitlab")  # ci.reports.sarif, ci.reports.gitlab: imported only when used


def resolve_format(requested: str | None) -> str:
    """The explicit `--format`, else `github` inside GitHub Actions, else `text`."""
    if requested:
        return requested
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"


def emit(
    reports: Sequence[Report],
    *,
    fmt: str | None = None,
    junit: Path | None = None,
    text: bool = True,
    out: TextIO | None = None,
    sarif: Path | None = None,
    codequality: Path | None = None,
    anchor: str | None = None,
    config: Path | None = None,
) -> bool:
    """Write a run's reports in every form asked for. `text=False` when stderr already said it.
    False when a report file or stdout could not be written (the run then exits 2, not 0);
    each form is tried whatever became of the others.
    `sarif`/`codequality`: files to write too; `anchor`: their path for issues without a file
    (the config file or the migrations directory); `config`: the --config given, named in the
    pr-comment's marker as --pr-comment FILE names it."""
    out = out if out is not None else sys.stdout
    written = True
    if junit is not None:
        from ci.reports.outputs import OutputRefused

        try:
            write_junit(reports, junit)
        except OutputRefused as refused:
            print(f"error: {refused}", file=sys.stderr)
            written = False
        except OSError as error:
            print(f"error: --junit {junit}: cannot write: {error.strerror}", file=sys.stderr)
            written = False
    written = _report_files(reports, sarif, codequality, anchor) and written
    fmt = resolve_format(fmt)
    if fmt == "github":
        github_files(reports, junit)
    return _printed(reports, fmt, out, text=text, anchor=anchor, config=config) and written


def _printed(
    reports: Sequence[Report],
    fmt: str,
    out: TextIO,
    *,
    text: bool,
    anchor: str | None,
    config: Path | None,
) -> bool:
    """The report on `out` in `fmt`; False (one line on stderr) when `out` cannot take it."""
    try:
        if fmt == "json":
            print(to_json(reports), file=out)
        elif fmt == "pr-comment":
            from ci.reports.pr_comment import to_pr_comment

            print(to_pr_comment(reports, config=config), file=out, end="")
        elif fmt == "github":
            write_github(reports, out)
        elif fmt == "sarif":
            from ci.reports.sarif import sarif_string

            print(sarif_string(reports, anchor=anchor), file=out)
        elif fmt == "gitlab":
            from ci.reports.gitlab import gitlab_string

            print(gitlab_string(reports, anchor=anchor), file=out)
        elif text:
            write_text(reports, out)
        out.flush()
    except BrokenPipeError:
        # The reader left (`... | head`); the exit code still carries the result. Point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        stdout_to_devnull()
    except OSError as error:  # a full disk, a closed terminal: the checks' result is not said
        print(f"error: could not write the report: {error.strerror or error}", file=sys.stderr)
        stdout_to_devnull()
        return False
    return True


def stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what is still buffered
    does not raise again (a second message, after the one line already said)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _report_files(
    reports: Sequence[Report], sarif: Path | None, codequality: Path | None, anchor: str | None
) -> bool:
    """Write --sarif and --codequality; False (said on stderr) when one could not be written."""
    if sarif is None and codequality is None:  # nearly every run: import nothing
        return True
    from ci.reports.gitlab import write_gitlab
    from ci.reports.outputs import OutputRefused
    from ci.reports.sarif import write_sarif

    written = True
    for option, path, write in (
        ("--sarif", sarif, write_sarif),
        ("--codequality", codequality, write_gitlab),
    ):
        if path is None:
            continue
        try:
            write(reports, path, anchor=anchor)
        except OutputRefused as refused:
            print(f"error: {refused}", file=sys.stderr)
            written = False
        except OSError as error:
            print(f"error: {option} {path}: cannot write: {error.strerror}", file=sys.stderr)
            written = False
        except ValueError as error:  # never a traceback, and the next file is still written
            print(f"error: {option} {path}: cannot write: {error}", file=sys.stderr)
            written = False
    return written
