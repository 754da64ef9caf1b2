"""`ci.migrate --database-url ... --backup PATH`: a `pg_dump` archive of the database before the
run changes it.

PostgreSQL has no file to copy: the backup is the server's own dump tool in its custom format
(`pg_dump --format=custom`: `pg_restore` restores it, whole or in part, and apply_sample takes it
as sample data). Written as SQLite's backups are (ci.db.backup.written): under a temporary name
beside PATH, flushed, then linked to PATH, so PATH is never a partial archive and an existing
file is never overwritten. The password, when the URL has one, goes to pg_dump in its
environment (PGPASSWORD), never on its command line, which other users of the host can list.

There is no default backup on PostgreSQL, unlike SQLite's `<db>.bak-<UTC time>`: a production
server has its own backups (base backups and WAL archiving restore to any moment, which a dump
cannot), and dumping a large database before every deploy would take the deploy's time many
times over. `--backup PATH` is for the database without them (a staging server, a small one).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ci.db.backup import BackupExists, unwritable_path, written
from ci.db.outcomes import CannotRun
from ci.db.postgres.connect import label

WHAT_TO_INSTALL = (
    "pg_dump not found: --backup with --database-url needs PostgreSQL's client tools "
    "(Debian/Ubuntu: apt install postgresql-client, of at least the server's version)"
)


def refuse_existing(dest: Path) -> None:
    """Before anything is opened: a backup never overwrites a file (SQLite's rule)."""
    problem = unwritable_path(dest)
    if problem is not None:
        raise CannotRun(problem)


def take(url: str, dest: Path, *, lock_wait: float) -> Path:
    """The database of `url` dumped to `dest` (a new file); CannotRun in one line when pg_dump
    is missing or fails (nothing is left at `dest`). `lock_wait`: seconds pg_dump may wait for
    a table's lock before it gives up."""
    program = shutil.which("pg_dump")
    if program is None:
        raise CannotRun(WHAT_TO_INSTALL)
    conninfo: dict[str, Any] = conninfo_to_dict(url)
    password = conninfo.pop("password", None)
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password is not None else {})}

    def dump(partial: Path) -> None:
        argv = [program, "--format=custom", "--no-password",
                f"--lock-wait-timeout={max(1, int(lock_wait * 1000))}ms",
                f"--file={partial}", f"--dbname={make_conninfo('', **conninfo)}"]  # fmt: skip
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode == -signal.SIGINT or "terminated by user" in done.stderr:
            raise KeyboardInterrupt  # Ctrl-C reached pg_dump first: the run was interrupted
        if done.returncode != 0:
            # its error and the detail under it (a version mismatch names both versions there)
            said = [" ".join(line.removeprefix("pg_dump: ").removeprefix("error: ").split())
                    for line in done.stderr.splitlines() if line.strip()][:2]  # fmt: skip
            why = "; ".join(said)
            if "LOCK TABLE" in why:  # --lock-wait-timeout ran out
                why += f" (another session held a table's lock for more than {lock_wait:g} s)"
            raise CannotRun(
                f"{label(url)}: pg_dump failed (exit {done.returncode}): {why}; nothing was changed"
            )

    try:
        return written(dump, dest)
    except BackupExists:
        raise CannotRun(
            f"{dest}: appeared while the backup was written; it was kept, as a backup never "
            "overwrites a file"
        ) from None
    except OSError as error:
        raise CannotRun(f"{dest}: cannot write the backup: {error.strerror}") from None
