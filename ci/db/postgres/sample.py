"""A `pg_dump -Fc` sample restored into a check's throwaway database, by the PostgreSQL client's
own `pg_restore` (the custom format has no other reader).

`--no-owner --no-privileges`: the dump's roles need not exist on the check's server;
`--single-transaction --exit-on-error`: the first error stops the restore and leaves nothing of
it behind (pg_restore's default goes on and only counts the errors). The password, when the
connection has one, reaches pg_restore in its environment, never on its command line.

Before anything is restored, the archive's DDL (`pg_restore --schema-only`, read, not run) goes
through the gate's rules on what reaches outside the database (ci.db.postgres.gate_reach): an
archive that creates an extension or language that reaches out (dblink, postgres_fdw,
plpython3u, ...), a C function, a foreign server or user mapping, an event trigger, or that
calls a dblink function (also in a function's body) is refused with one line naming the sample
and the entry. pg_restore runs the archive's functions while it restores (an index expression,
a CHECK constraint, a column default), and a check must not reach other databases.

Left once those are refused: a function of the archive's in a trusted language (SQL,
PL/pgSQL) that an index expression calls. Without dblink, a foreign data wrapper, an untrusted
language or a C function in the database, such a function cannot open a connection to another
database: what it reaches is the throwaway database itself. Dynamic SQL in its body (EXECUTE of
a string) stays unseen here, and it runs as the check's role: a role that is not a superuser
also keeps it from the server's files and programs (COPY ... TO PROGRAM).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from ci.core.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    import psycopg
    from pglast import ast

PROGRAM = "pg_restore"
RESTRICT = re.compile(r"^\\(un)?restrict\b.*$", re.MULTILINE)
OPTIONS = ("--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error")
# the connection parameters passed on: ones every libpq knows (the driver's own libpq may be
# newer than pg_restore's, and list parameters that one refuses: `sslcertmode`)
PASSED = ("host", "hostaddr", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcert",
          "sslkey", "options")  # fmt: skip


def restore(path: Path, conn: psycopg.Connection[Any]) -> None:
    """Restore the archive into the database `conn` is connected to; one line (exit 2) when
    pg_restore is missing, the archive reaches outside the database (see above) or does not
    restore."""
    from psycopg.conninfo import make_conninfo

    program = shutil.which(PROGRAM)
    if program is None:
        raise UsageError(
            f"{path}: a pg_dump sample is restored with {PROGRAM}, which is not on PATH: "
            "install the PostgreSQL client programs (Debian/Ubuntu: postgresql-client)"
        )
    refuse_reaching_out(path, program)
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


def refuse_reaching_out(path: Path, program: str) -> None:
    """UsageError naming the archive's first entry that would reach outside the database."""
    from ci.core.model import InputError
    from ci.db.postgres.statements import PgStatement, split

    done = subprocess.run(
        [program, "--schema-only", "--no-owner", "--no-privileges", "--file", "-", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"{path}: the pg_dump sample does not restore: {first_error(done.stderr)}")
    # newer pg_restore writes psql's `\\restrict KEY` / `\\unrestrict KEY` around the script:
    # meta-commands, not SQL (kept as blank lines, so lines keep their numbers)
    text = RESTRICT.sub("", done.stdout)
    try:
        statements = split(text, source=str(path))
    except InputError as error:
        raise UsageError(f"{path}: the pg_dump sample's DDL cannot be read: {error}") from None
    for statement in statements:
        assert isinstance(statement, PgStatement)
        tree = statement.tree
        why = None if tree is None else reaches_out(tree)
        if why is not None:
            entry = " ".join(statement.code.split("(", 1)[0].split()[:6])
            raise UsageError(
                f"{path}: the pg_dump sample is refused at its entry `{entry}`: {why}; a check "
                "must not reach outside its throwaway database (make the sample with pg_dump from "
                "a database without it)"
            )


def reaches_out(tree: ast.Node) -> str | None:
    """Why restoring one statement of the archive would reach outside the database."""
    from pglast import ast

    from ci.db.postgres.gate_reach import reaching_out, refused_function

    if isinstance(tree, ast.CreateEventTrigStmt):
        return "an event trigger runs its function on every later DDL statement of the check"
    found = reaching_out(tree)
    if found is not None:
        return f"{found[0]}: {found[1]}"
    refused = refused_function(tree)
    return None if refused is None else refused.message
