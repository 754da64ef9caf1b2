"""A PostgreSQL project on an install without the `postgresql` extra (a pre-commit hook's own
environment, typically): every command says in one line what to install, exit 2, never a
traceback. The extra's modules are hidden from a real process (`sys.modules[name] = None`
makes their import fail as if they were not installed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

CONFIG = "examples/postgresql/migration-guard.yaml"
HIDE = "import runpy, sys; sys.modules.update(psycopg=None, pglast=None); sys.argv = {argv!r}; "
RUN = "runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"


def run_without_extra(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = HIDE.format(argv=[module, *args]) + RUN.format(module=module)
    env = {"MIGRATION_GUARD_SERVER_URL": "postgresql://postgres@127.0.0.1:1/postgres"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
        env={**__import__("os").environ, **env}, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("ci.lint", ("--config", CONFIG, "--all")),
        ("ci.apply_empty", ("--config", CONFIG)),
        ("ci.migrate", ("--database-url", "postgresql://u@127.0.0.1:1/db", "--status",
                        "--migrations-dir", "examples/postgresql/migrations")),
    ],
)  # fmt: skip
def test_a_missing_postgresql_extra_is_one_line_naming_what_to_install(
    module: str, args: tuple[str, ...]
) -> None:
    done = run_without_extra(module, *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "needs the postgresql extra" in done.stderr
    assert "pip install 'migration-guard[postgresql]'" in done.stderr
    assert "additional_dependencies: ['psycopg[binary]>=3.1', 'pglast>=7'" in done.stderr
