"""`ci.migrate --format github`, for deploy workflows: after the usual text, `::error`
annotations on the file and line that failed (or was refused, edited, left dirty), a table
appended to $GITHUB_STEP_SUMMARY (what was applied, what is pending, the time), and the step
outputs `failed` and `version` in $GITHUB_OUTPUT.

Built from the same document as `--format json` (ci.reports.runner_json), so the two never
disagree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from ci.reports.github import escape_data, escape_property, markdown_table, write_outputs
from ci.reports.runner_json import document

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

    from ci.db.runlog import RunLog

Json = dict[str, object]
MARKS = {
    "ok": "✅ ok",
    "problems": "❌ problems",
    "migration-failed": "❌ migration failed",
    "refused": "❌ refused",
    "could-not-run": "💥 could not run",
    "interrupted": "⏹️ interrupted",
}
SHOWN_ROWS = 500  # a step summary is capped at 1 MiB by GitHub


def write_github(log: RunLog, out: TextIO) -> None:
    doc = document(log)
    for line in problem_annotations(doc):
        print(line, file=out)
    out.flush()
    failed = "false" if doc["exit_code"] == 0 else "true"
    version = str(_dict(doc["database"]).get("version") or 0)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        _tried(summary, lambda: _append(Path(summary), summary_markdown(doc)))
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        values = {"failed": failed, "version": version}
        _tried(outputs, lambda: write_outputs(values, Path(outputs)))


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


def _tried(path: str, write: Callable[[], None]) -> None:
    """The run is done and its exit code stands: a file that cannot be written is one line
    naming it (the error's own name is None when the write, not the open, failed)."""
    try:
        write()
    except OSError as error:
        print(f"migrate: {error.filename or path}: cannot write: {error.strerror}", file=sys.stderr)


def annotation(
    level: str, title: str, message: str, file: object = None, line: object = None
) -> str:
    properties = []
    if file:
        properties.append(f"file={escape_property(str(file))}")
        if line is not None:
            properties.append(f"line={line}")
    properties.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(properties)}::{escape_data(message)}"


def problem_annotations(doc: Json) -> list[str]:
    """One per problem: the error (a refusal: one per line); for --status, edited applied
    files and reused numbers, dirty marks, numbers used twice, and a warning for an applied
    migration whose file is gone (after a run, the error's lines already name what stopped
    it)."""
    found = [*_error_annotations(doc)]
    if doc["command"] != "status":
        return found
    for row in _rows(doc["applied"]):
        if row["state"] == "edited":
            found.append(
                annotation(
                    "error", "applied migration edited", str(row["state_message"]), row["file"]
                )
            )
        elif row["state"] == "number-reused":
            found.append(
                annotation(
                    "error", "migration number reused", str(row["state_message"]), row["file"]
                )
            )
        elif row["state"] == "missing-file":
            found.append(
                annotation(
                    "warning",
                    "applied migration's file is gone",
                    f"{row['label']} {row['name']}: {row['state_message']}",
                )
            )
    for mark in _rows(doc["dirty"]):
        found.append(annotation("error", "database is dirty", str(mark["message"]), mark["file"]))
    for line in _strings(doc["problems"]):
        found.append(annotation("error", "number used twice", line, _file_of(line)))
    return found


def _error_annotations(doc: Json) -> list[str]:
    error = doc["error"]
    if not isinstance(error, dict):
        return []
    kind = str(error["kind"])
    if kind == "migration-failed":
        message = str(error["message"])
        for extra in ("left_dirty", "group", "hint"):
            if error.get(extra):
                message += f"\n{extra.replace('_', ' ')}: {error[extra]}"
        title = "dry run: migration would fail" if doc["dry_run"] else "migration failed"
        return [annotation("error", title, message, error["file"], error["line"])]
    title = f"migrate {kind.replace('-', ' ')}"
    return [annotation("error", title, line, _file_of(line)) for line in _strings(error["lines"])]


def _file_of(line: str) -> str | None:
    """The file a refusal's line names first (`m/schema/0001_a.sql: edited ...`), if it is one."""
    head = line.partition(": ")[0]
    return head if head and os.path.isfile(head) else None


def summary_markdown(doc: Json) -> str:
    database = _dict(doc["database"])
    run = doc["run"] if isinstance(doc["run"], dict) else None
    what = "dry run" if doc["dry_run"] else str(doc["command"] or "migrate")
    lines = [f"## migration-guard migrate ({what}): {MARKS[str(doc['outcome'])]}", ""]
    applied, pending = _rows(doc["applied"]), _rows(doc["pending"])
    version = database.get("version")
    at = "?" if version is None else f"{version:04d}"
    head = "?" if doc["head"] is None else f"{doc['head']:04d}"
    facts = [f"database `{database['path']}` at {at} (head {head})"]
    facts += [
        f"{len(applied)} applied",
        f"{len(pending)} pending",
        f"{len(_rows(doc['dirty']))} dirty",
    ]
    if run is not None:
        facts.append(f"this run: {len(_rows(run['steps']))} steps, {run['execution_time_ms']} ms")
        if run["backup"]:
            facts.append(f"backup `{run['backup']}`")
    lines += ["; ".join(facts), ""]
    if run is not None and run["steps"]:
        lines += ["### This run", ""]
        lines += markdown_table(
            ("migration", "kind", "file", "action", "rows", "time (ms)"),
            (
                (
                    s["label"],
                    s["kind"],
                    f"`{s['file']}`",
                    s["action"],
                    s["rows_affected"],
                    s["execution_time_ms"],
                )
                for s in _rows(run["steps"])[:SHOWN_ROWS]
            ),
            (":--", ":--", ":--", ":--", "--:", "--:"),
        )
        lines.append("")
    if pending:
        lines += ["### Pending", ""]
        lines += markdown_table(
            ("migration", "kind", "file"),
            ((p["label"], p["kind"], f"`{p['file']}`") for p in pending[:SHOWN_ROWS]),
            (":--", ":--", ":--"),
        )
        lines.append("")
    error = doc["error"]
    if isinstance(error, dict):
        where = f" (`{error['file']}:{error['line']}`)" if error["file"] else ""
        lines += ["### Error", "", f"{error['kind']}{where}: {error['message']}", ""]
    return "\n".join(lines) + "\n"


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _rows(value: object) -> list[dict[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
