"""`ci.migrate --database-url ... --backup PATH`: a real `pg_dump` archive of the database as it
was before the run changed it, never a partial file, never over an existing one; what stops it
(no pg_dump, pg_dump failing) stops the run before any change, in one line."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests import pg
from tests.db.postgres.pgrun import applied, migrate, rows, write

pytestmark = pytest.mark.postgresql

FILES = {
    "schema/0001_t.sql": "CREATE TABLE t (x int);\n",
    "data/0002_rows.sql": "INSERT INTO t VALUES (1), (2);\n",
    "schema/0003_u.sql": "CREATE TABLE u (y int);\n",
    "rollback/0003_rollback.sql": "DROP TABLE u;\n",
}


def restored_versions(archive: Path) -> list[tuple[int, str]]:
    """The runner's rows of the archive, restored into a database of its own."""
    name = f"mgtest_{secrets.token_hex(6)}"
    with psycopg.connect(pg.server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pg.database_url(name)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--dbname", url, str(archive)], check=True)
        return applied(url)
    finally:
        with psycopg.connect(pg.server_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


RUNNER_TABLES = (
    "SELECT count(*) FROM pg_tables WHERE tablename IN ('schema_version', 'schema_version_log')"
)


def runner_tables(url: str) -> int:
    return int(rows(url, RUNNER_TABLES)[0][0])


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".partial"))


def test_the_backup_is_the_database_before_the_run(
    pg_database_url: str, tmp_path: Path, capsys: Any
) -> None:
    migrations = write(tmp_path, FILES)
    assert migrate(capsys, pg_database_url, migrations, "--target", "1")[0] == 0
    archive = tmp_path / "before.dump"
    code, out, err = migrate(capsys, pg_database_url, migrations, "--backup", str(archive))
    assert code == 0, out + err
    assert f"backup: {archive}" in out
    assert out.index("backup:") < out.index("applied 0002")
    assert archive.read_bytes()[:5] == b"PGDMP"
    assert restored_versions(archive) == [(1, "schema")]
    assert applied(pg_database_url) == [(1, "schema"), (2, "data"), (3, "schema")]

    again = tmp_path / "before-rollback.dump"
    code, out, err = migrate(capsys, pg_database_url, migrations, "--rollback", "3",
                             "--backup", str(again))  # fmt: skip
    assert code == 0, out + err
    assert restored_versions(again) == [(1, "schema"), (2, "data"), (3, "schema")]
    assert leftovers(tmp_path) == []


def test_nothing_to_do_takes_no_backup(pg_database_url: str, tmp_path: Path, capsys: Any) -> None:
    migrations = write(tmp_path, FILES)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    archive = tmp_path / "none.dump"
    code, out, err = migrate(capsys, pg_database_url, migrations, "--backup", str(archive))
    assert code == 0, out + err
    assert not archive.exists() and "backup:" not in out


def test_a_backup_never_overwrites_a_file(
    pg_database_url: str, tmp_path: Path, capsys: Any
) -> None:
    migrations = write(tmp_path, FILES)
    archive = tmp_path / "taken.dump"
    archive.write_text("someone else's file", encoding="utf-8")
    code, _out, err = migrate(capsys, pg_database_url, migrations, "--backup", str(archive))
    assert code == 2
    assert err.splitlines() == [
        f"migrate: {archive}: already exists; a backup never overwrites a file (choose a new "
        "path, or move that file away)"
    ]
    assert archive.read_text(encoding="utf-8") == "someone else's file"
    assert runner_tables(pg_database_url) == 0  # refused before anything was opened


def test_without_pg_dump_the_run_stops_before_any_change(
    pg_database_url: str, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = write(tmp_path, FILES)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    archive = tmp_path / "b.dump"
    code, out, err = migrate(capsys, pg_database_url, migrations, "--backup", str(archive))
    assert code == 2
    assert err.splitlines() == [
        "migrate: pg_dump not found: --backup with --database-url needs PostgreSQL's client "
        "tools (Debian/Ubuntu: apt install postgresql-client, of at least the server's version)"
    ]
    assert not archive.exists() and leftovers(tmp_path) == []
    assert "applied" not in out and runner_tables(pg_database_url) == 0


def test_pg_dump_failing_stops_the_run_before_any_change(
    pg_database_url: str, tmp_path: Path, capsys: Any
) -> None:
    """A table locked by another session: pg_dump gives up after --busy-timeout."""
    migrations = write(tmp_path, FILES)
    assert migrate(capsys, pg_database_url, migrations, "--target", "1")[0] == 0
    archive = tmp_path / "b.dump"
    with psycopg.connect(pg_database_url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        code, _out, err = migrate(capsys, pg_database_url, migrations, "--backup", str(archive),
                                  "--busy-timeout", "1")  # fmt: skip
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and "pg_dump failed (exit 1): " in lines[0], err
    assert "LOCK TABLE public.t IN ACCESS SHARE MODE" in lines[0]
    assert "(another session held a table's lock for more than 1 s)" in lines[0]
    assert lines[0].endswith("; nothing was changed")
    assert not archive.exists() and leftovers(tmp_path) == []
    assert applied(pg_database_url) == [(1, "schema")]


def test_the_password_reaches_pg_dump_in_its_environment_only(
    pg_database_url: str, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pg_dump first in PATH that writes down what it was given, then runs the real one."""
    real = shutil.which("pg_dump")
    assert real is not None
    spy = tmp_path / "bin" / "pg_dump"
    spy.parent.mkdir()
    said = tmp_path / "said.txt"
    spy.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" "PGPASSWORD=$PGPASSWORD" > {said}\nexec {real} "$@"\n',
        encoding="utf-8",
    )
    spy.chmod(spy.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{spy.parent}{os.pathsep}{os.environ['PATH']}")
    parts = urlsplit(pg_database_url)
    with_password = urlunsplit(parts._replace(netloc=f"postgres:s3cret-{secrets.token_hex(3)}@"
                                              f"{parts.hostname}:{parts.port}"))  # fmt: skip
    password = with_password.split(":")[2].split("@")[0]
    migrations = write(tmp_path, FILES)
    archive = tmp_path / "b.dump"
    code, out, err = migrate(capsys, with_password, migrations, "--backup", str(archive))
    assert code == 0, out + err
    given = said.read_text(encoding="utf-8").splitlines()
    assert given[-1] == f"PGPASSWORD={password}"
    assert not any(password in arg for arg in given[:-1]), given
    assert password not in out + err


def test_ctrl_c_while_pg_dump_waits_is_an_interruption(
    pg_database_url: str, tmp_path: Path
) -> None:
    """SIGINT to the process group (what a terminal's Ctrl-C sends) while pg_dump waits for a
    table another session holds: exit 130 as any interrupted run, no file, nothing changed."""
    migrations = write(tmp_path, FILES)
    archive = tmp_path / "b.dump"
    argv = [sys.executable, "-m", "ci.migrate", "--database-url", pg_database_url,
            "--migrations-dir", str(migrations)]  # fmt: skip
    subprocess.run([*argv, "--target", "1"], check=True, capture_output=True)
    with psycopg.connect(pg_database_url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        run = subprocess.Popen(
            [*argv, "--backup", str(archive)],
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not waiting_pg_dump(pg_database_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(child_named(run.pid, "pg_dump"), signal.SIGINT)
        out, err = run.communicate(timeout=30)
    assert run.returncode == 130, out + err
    assert "pg_dump failed" not in err and err.startswith("migrate: interrupted")
    assert not archive.exists() and leftovers(tmp_path) == []
    assert applied(pg_database_url) == [(1, "schema")]


def child_named(parent: int, name: str) -> int:
    """The pid of `parent`'s child process called `name` (Linux: /proc)."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)
        except OSError:
            continue
        comm, ppid = fields[0].split("(", 1)[1], int(fields[1].split()[1])
        if ppid == parent and comm == name:
            return int(stat_file.parent.name)
    raise AssertionError(f"no {name} under {parent}")


def waiting_pg_dump(url: str) -> bool:
    found = rows(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' "
                 "AND wait_event_type = 'Lock'")  # fmt: skip
    return bool(found[0][0])
