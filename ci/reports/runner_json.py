"""`ci.migrate --format json`: one JSON document per run, for deploy tools and dashboards.

Keys are stable (docs/schemas/migrate-output.schema.json, documented in docs/runner.md); a key
is added only under a new `version`. The document is built whole, then written at once: a
reader never sees half of one, whatever went wrong in the run (`error` says what did).
"""

from __future__ import annotations

import os

from ci.db.bookkeeping import head_version
from ci.db.outcomes import whole_ms
from ci.db.status import Status
from ci.reports.github import workspace_relative

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

    from ci.core.model import Migration
    from ci.core.model.sqlfile import SqlFile
    from ci.db.bookkeeping import AppliedRow, DirtyMark
    from ci.db.outcomes import Outcome
    from ci.db.runlog import RunError, RunLog

FORMAT = "migration-guard-migrate"
VERSION = 1
Json = dict[str, object]


def write_json(log: RunLog, out: TextIO) -> None:
    import json  # only --format json pays for it (start-up time of every --status)

    # one line: json's C encoder does not indent, and a status of 1,000 applied rows took
    # twice as long indented (`jq .` shows it indented)
    out.write(json.dumps(document(log), ensure_ascii=False) + "\n")
    out.flush()


def document(log: RunLog) -> Json:
    """The run as one document: how it ended, what the database says, what was done."""
    status = log.status if isinstance(log.status, Status) else None
    return {
        "format": FORMAT,
        "version": VERSION,
        "command": log.command,
        "dry_run": log.dry_run,
        "outcome": outcome(log),
        "exit_code": log.exit_code,
        "database": _database(log, status),
        "migrations_dir": None if log.catalog is None else shown(str(log.catalog.root)),
        "head": None if log.catalog is None else log.catalog.head,
        "applied": None if status is None else _applied(status),
        "pending": None if status is None else [_pending(m) for m in status.pending],
        "dirty": None if status is None else _dirty_marks(status),
        "problems": [] if status is None else list(status.problems),
        "run": None if log.command in (None, "status") else _run(log),
        "error": None if log.error is None else _error(log.error),
    }


def outcome(log: RunLog) -> str:
    """'ok'; 'problems' (--status found an edited file, a dirty mark, a number used twice);
    or the error's kind: 'migration-failed', 'refused', 'could-not-run', 'interrupted'."""
    if log.error is not None:
        return log.error.kind
    return "ok" if log.exit_code == 0 else "problems"


def shown(path: str) -> str:
    """A path as annotations show it: relative to the repository (GITHUB_WORKSPACE, else the
    current directory) when it is inside, else as given."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not path or (workspace is None and not os.path.isabs(path) and ".." not in path):
        return path  # relative to the current directory already (the common case, per row)
    base = (workspace or os.getcwd()).rstrip(os.sep) + os.sep
    if path.startswith(base) and ".." not in path:
        return path[len(base) :]
    return workspace_relative(path)


def _database(log: RunLog, status: Status | None) -> Json:
    exists = os.path.exists(log.database)
    version = None
    if status is not None:
        exists = status.rows is not None
        version = head_version(status.rows or [])
    return {"path": log.database, "exists": exists, "version": version}


def migration(m: Migration, file: SqlFile | None = None) -> Json:
    """What names a migration: number, label, track, kind, name (slug), file and checksum."""
    file = m.file if file is None else file
    return {
        "version": m.version,
        "label": m.label,
        "track": m.track,
        "kind": m.kind,
        "name": m.slug,
        "file": shown(file.location),
        "hash": _checksum(file),
    }


def _checksum(file: SqlFile) -> str | None:
    from ci.core.model import InputError

    try:
        return file.checksum
    except InputError:  # unreadable now: --status lists it all the same (a run refuses it)
        return None


def _applied(status: Status) -> list[Json]:
    files = {(m.track, m.version): m for m in status.catalog.all_migrations()}
    rows = status.rows or []
    return [
        _applied_row(row, files.get((row.track, row.version)), state)
        for row, state in zip(rows, status.states, strict=True)
    ]


def _applied_row(row: AppliedRow, m: Migration | None, state: str) -> Json:
    return {
        "version": row.version,
        "label": row.label,
        "track": row.track,
        "kind": row.migration_type,
        "name": row.description,
        "file": None if m is None else shown(m.file.location),
        "hash": row.file_hash,  # as recorded when it was applied
        "state": _state(state),
        "state_message": state,
        "applied_at": row.applied_at,
        "execution_time_ms": row.execution_time_ms,
        "rows_affected": row.rows_affected,
        "applied_by": row.applied_by,
    }


def _state(text: str) -> str:
    """ci.db.drift.hash_state's line as a stable word."""
    for prefix, word in (
        ("ok", "ok"),
        ("missing file", "missing-file"),
        ("no hash", "no-hash"),
        ("NUMBER REUSED", "number-reused"),
    ):
        if text.startswith(prefix):
            return word
    return "edited"


def _pending(m: Migration) -> Json:
    return migration(m)


def _dirty_marks(status: Status) -> list[Json]:
    """Each open mark, with its --status line (read together, in the same order)."""
    files = {(m.track, m.version): m for m in status.catalog.all_migrations()}
    return [
        _dirty(mark, files.get((mark.track, mark.version)), message)
        for mark, message in zip(status.marks, status.dirty, strict=True)
    ]


def _dirty(mark: DirtyMark, m: Migration | None, message: str) -> Json:
    return {
        "version": mark.version,
        "label": mark.label,
        "track": mark.track,
        "kind": mark.migration_type,
        "name": mark.description,
        "file": None if m is None else shown(m.file.location),
        "started_at": mark.logged_at,
        "rows_done": mark.rows_done,
        "error": mark.error,
        "holder": mark.owner,
        "message": message,
    }


def _run(log: RunLog) -> Json:
    planned = log.planned
    rolling_back = log.command == "rollback"
    return {
        "options": log.options,
        "planned": None
        if planned is None
        else [migration(m, m.rollback if rolling_back else None) for m in planned],
        "steps": [step(o) for o in log.steps],
        "groups": [_group(outcomes, seconds) for outcomes, seconds in log.groups],
        "backup": None if log.backup is None else shown(log.backup),
        "execution_time_ms": sum(whole_ms(o.seconds) for o in log.steps),
        "rows_affected": sum(o.rows for o in log.steps),
    }


def step(o: Outcome) -> Json:
    """One migration done (or, in a dry run, rehearsed): the file that ran (a rollback's own
    file when rolling back), rows and time."""
    m = o.migration
    ran = m.rollback if "roll" in o.action and m.rollback is not None else m.file
    return {
        "action": o.action,
        **migration(m, ran),
        "rows_affected": o.rows,
        "execution_time_ms": whole_ms(o.seconds),
    }


def _group(outcomes: list[Outcome], seconds: float) -> Json:
    labels = [o.migration.label for o in outcomes if o.action != "skipped"]
    return {
        "migrations": labels,
        "first": labels[0] if labels else None,
        "last": labels[-1] if labels else None,
        "execution_time_ms": whole_ms(seconds),
    }


def _error(error: RunError) -> Json:
    return {
        "kind": error.kind,
        "message": error.message,
        "file": None if error.file is None else shown(error.file),
        "line": error.line,
        "lines": list(error.lines),
        "left_dirty": error.left_dirty,
        "group": error.group,
        "hint": error.hint,
    }
