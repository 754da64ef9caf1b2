"""The schema snapshot: the schema the migrations produce, printed in a stable order, compared
with the committed snapshot file (or written to it with `--write-snapshot`). `snapshot_print`
loads the committed snapshot into an in-memory database through the runner.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from ci.checks.db_options import Options
from ci.core.errors import UsageError
from ci.core.findings import Case, Finding
from ci.db import runner

if TYPE_CHECKING:  # fingerprints are imported only when a snapshot is used (start-up time)
    from ci.db.fingerprint import Fingerprint

SNAPSHOT_HEADER = (
    "-- Schema snapshot: the schema the migrations produce (runner bookkeeping left out).\n"
    "-- Written by `python -m ci.apply_empty --write-snapshot`; a difference fails apply_empty.\n"
)
TYPE_ORDER = {"table": 0, "view": 1, "index": 2, "trigger": 3}


def snapshot_sql(conn: sqlite3.Connection) -> str:
    """The snapshot file: every object the migrations created, in a stable order."""
    from ci.db.fingerprint import EXCLUDED_GROUPS

    shadow = shadow_tables(conn)
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    objects = sorted(
        (TYPE_ORDER.get(type_, 9), name.lower(), sql.strip())
        for type_, name, tbl_name, sql in rows
        if sql
        and not name.startswith("sqlite_")
        and tbl_name.lower() not in EXCLUDED_GROUPS
        and tbl_name.lower() not in shadow
    )
    return SNAPSHOT_HEADER + "".join(f"\n{sql};\n" for _, _, sql in objects)


def shadow_tables(conn: sqlite3.Connection) -> set[str]:
    """Tables a virtual table keeps its data in (created by it, not by a migration)."""
    try:
        rows = conn.execute("SELECT name FROM pragma_table_list WHERE type = 'shadow'")
        return {name.lower() for (name,) in rows}
    except sqlite3.Error:  # SQLite before 3.37 has no table_list
        return set()


def snapshot_refusal(path: Path, sample: Path | None = None) -> str | None:
    """Why --write-snapshot must not write `path` (an existing file that is not a snapshot)."""
    from ci.reports import outputs

    return outputs.refusal(
        path,
        option="--schema-snapshot",
        kind="a schema snapshot",
        starts=(SNAPSHOT_HEADER.split("\n")[0].encode(),),
        inputs=(sample,),
    )


def write_snapshot_case(check: str, conn: sqlite3.Connection, path: Path) -> Case:
    from ci.reports import outputs

    try:
        outputs.write_atomically(path, snapshot_sql(conn), refused=snapshot_refusal(path))
    except outputs.OutputRefused as refused:
        raise UsageError(str(refused)) from None
    except OSError as error:
        raise UsageError(f"{path}: cannot write the snapshot: {error.strerror}") from None
    return Case(f"schema snapshot written to {path}", check, path=str(path))


def snapshot_case(check: str, conn: sqlite3.Connection, options: Options) -> Case:
    from ci.db.fingerprint import DRIFT, describe_differences
    from ci.db.fingerprint import schema_fingerprint as read_schema

    assert options.snapshot is not None
    path = options.snapshot
    expected = snapshot_print(path, options.setup)
    actual = _without_shadow(read_schema(conn), shadow_tables(conn))
    case = Case("schema snapshot", check, path=str(path))
    differences = describe_differences(expected, actual, wording=DRIFT)
    if differences:
        case.findings.append(
            Finding(
                check,
                "MG307",
                str(path),
                None,
                "the migrations do not produce the committed schema snapshot: "
                + "; ".join(differences),
                f"if the change is intended, run python -m ci.apply_empty --schema-snapshot "
                f"{path} --write-snapshot and commit {path}",
            )
        )
    return case


def snapshot_print(path: Path, setup: str | None) -> Fingerprint:
    """The schema fingerprint of a snapshot file, loaded into an in-memory database."""
    from ci.core.model import SqlFile
    from ci.db.fingerprint import schema_fingerprint as read_schema

    if not path.is_file():
        raise UsageError(f"{path}: schema snapshot not found; create it with --write-snapshot")
    statements = SqlFile(path).statements
    conn = runner.connect(":memory:", setup=setup, durable=False)
    try:
        pending = list(statements)
        while pending:  # a view may name a view that sorts after it: retry until stuck
            failed = []
            errors: list[tuple[int, str]] = []
            for statement in pending:
                try:
                    conn.execute(statement.sql)
                except sqlite3.Error as error:
                    failed.append(statement)
                    errors.append((statement.line, str(error)))
            if len(failed) == len(pending):
                line, message = errors[0]
                raise UsageError(f"{path}:{line}: cannot load the schema snapshot: {message}")
            pending = failed
        return _without_shadow(read_schema(conn), shadow_tables(conn))
    finally:
        conn.close()


def _without_shadow(printed: Fingerprint, shadow: set[str]) -> Fingerprint:
    from ci.db.fingerprint import Fingerprint

    return Fingerprint({k: v for k, v in printed.groups.items() if k not in shadow})
