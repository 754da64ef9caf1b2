"""A `pg_dump -Fc` sample restored into a check's throwaway database, by the PostgreSQL client's
own `pg_restore` (the custom format has no other reader).

`--no-owner --no-privileges`: the dump's roles need not exist on the check's server;
`--single-transaction --exit-on-error`: the first error stops the restore and leaves nothing of
it behind (pg_restore's default goes on and only counts the errors). The password, when the
connection has one, reaches pg_restore in its environment, never on its command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from ci.core.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    import psycopg

PROGRAM = "pg_restore"
OPTIONS = ("--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error")
# the connection parameters passed on: ones every libpq knows (the driver's own libpq may be
# newer than pg_restore's, and list parameters that one refuses: `sslcertmode`)
PASSED = ("host", "hostaddr", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcert",
          "sslkey", "options")  # fmt: skip


def restore(path: Path, conn: psycopg.Connection[Any]) -> None:
    """Restore the archive into the database `conn` is connected to; one line (exit 2) when
    pg_restore is missing or the archive does not restore."""
    from psycopg.conninfo import make_conninfo

    program = shutil.which(PROGRAM)
    if program is None:
        raise UsageError(
            f"{path}: a pg_dump sample is restored with {PROGRAM}, which is not on PATH: "
            "install the PostgreSQL client programs (Debian/Ubuntu: postgresql-client)"
        )
    env = dict(os.environ)
    if conn.info.password:
        env["PGPASSWORD"] = conn.info.password
    given = conn.info.get_parameters()
    target = make_conninfo(**{name: given[name] for name in PASSED if name in given})
    done = subprocess.run(
        [program, *OPTIONS, "--dbname", target, str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"{path}: the pg_dump sample does not restore: {first_error(done.stderr)}")


def first_error(stderr: str) -> str:
    """pg_restore's first error in one line, its `pg_restore: error:` prefix left out."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    error = next((line for line in lines if "error:" in line), lines[0] if lines else "")
    text = error.split("error:", 1)[-1].strip()
    return " ".join(text.split()) or f"{PROGRAM} failed"
