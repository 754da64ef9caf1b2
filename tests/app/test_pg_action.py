"""The Action on a PostgreSQL project: a job that names its server in MIGRATION_GUARD_SERVER_URL
gets the postgresql extra, pinned exactly by action/constraints-postgresql.txt (the install step
run with bash, from the package index, as on a runner)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.test_action import Runner, canonical, constraints, run_steps
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a virtual environment and a real pip install


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (REPO / "action" / name).read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            package, version = requirement.split("==")
            found[canonical(package)] = version
    return found


def test_a_job_with_a_server_url_gets_the_pinned_postgresql_extra(tmp_path: Path) -> None:
    action_path = tmp_path / "action"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("ci", "hooks", "action"):
        shutil.copytree(REPO / name, action_path / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "action.yml"):
        shutil.copy(REPO / name, action_path / name)
    runner = Runner(
        action=action_path, temp=tmp_path, steps={"python.outputs.python-path": sys.executable}
    )
    server = {"MIGRATION_GUARD_SERVER_URL": "postgresql://postgres@localhost:5432/postgres"}
    (install,), outputs, _ = run_steps(runner, tmp_path, {}, {}, only="install", job_env=server)
    assert install.returncode == 0, install.stdout + install.stderr
    python = Path(outputs["command"]).parent / "python"
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--exclude-editable"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    installed = {
        canonical(d["name"]): d["version"]
        for d in json.loads(listed.stdout)
        if canonical(d["name"]) not in ("migration-guard", "pip", "setuptools")
    }
    assert {"psycopg", "pglast", "squawk-cli"} <= set(installed)
    assert installed == constraints() | pins("constraints-postgresql.txt")
