"""What the PostgreSQL runner's tests share: a migrations directory written from a dict, a run
of `ci.migrate --database-url` in this process, and queries on the test's database."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg

from ci.migrate import main


def write(root: Path, files: dict[str, str]) -> Path:
    """{"schema/0001_a.sql": "..."} -> files under root/m; returns root/m."""
    migrations = root / "m"
    for name, text in files.items():
        path = migrations / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return migrations


def migrate(capsys: Any, url: str, migrations: Path, *extra: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one run in this process."""
    capsys.readouterr()
    code = main(["--database-url", url, "--migrations-dir", str(migrations), *extra])
    said = capsys.readouterr()
    return code, said.out, said.err


def rows(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]  # type: ignore[arg-type]


def applied(url: str) -> list[tuple[int, str]]:
    return [
        (int(v), str(t))
        for v, t in rows(url, "SELECT version, migration_type FROM schema_version ORDER BY 1, 2")
    ]


def schema_dump(url: str) -> str:
    """pg_dump --schema-only, the server's own account of the schema (without the random key
    of its \\restrict lines, new in every dump)."""
    done = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--dbname", url],
        capture_output=True,
        text=True,
        check=True,
    )
    return "".join(
        line for line in done.stdout.splitlines(keepends=True) if not line.startswith("\\")
    )
