"""docs/pytest.md's example test files, run as they are in real pytest processes on a copy of
the worked examples: the page cannot drift from what the fixtures do. The complete example on
SQLite (`schema/`), the PostgreSQL one on `examples/postgresql`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGE = REPO / "docs" / "pytest.md"


def example_file(heading: str = "## A complete example") -> str:
    """The python block under `heading` (before the next heading, and the only one there)."""
    section = PAGE.read_text(encoding="utf-8").split(f"{heading}\n", 1)[1]
    before, _, rest = section.partition("```python\n")
    assert not re.search(r"^#+ ", before, flags=re.MULTILINE), f"no python block under {heading}"
    block, _, after = rest.partition("```")
    after = re.split(r"^#+ ", after, maxsplit=1, flags=re.MULTILINE)[0]
    assert "```python" not in after, f"more than one python block under {heading}"
    return block


def passes(root: Path, example: str, env: dict[str, str] | None = None) -> None:
    """`example` as tests/test_migrations.py of the project at `root`: every test passes."""
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "test_migrations.py").write_text(example, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.findall(r"^PASSED (\S+)", done.stdout, flags=re.MULTILINE)
    defined = re.findall(r"^def (test_\w+)", example, flags=re.MULTILINE)
    assert sorted(passed) == sorted(f"tests/test_migrations.py::{name}" for name in defined)


def test_the_documented_example_test_file_passes(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "schema", root / "schema")
    shutil.copy(REPO / "schema" / "migration-guard.yaml", root / "migration-guard.yaml")
    passes(root, example_file())


@pytest.mark.postgresql
def test_the_documented_postgresql_example_passes(tmp_path: Path, pg_server_url: str) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "postgresql" / "migrations", root / "migrations")
    (root / "migration-guard.yaml").write_text(
        "engine: postgresql\nmigrations_dir: migrations\n", encoding="utf-8"
    )
    env = {**os.environ, "MIGRATION_GUARD_SERVER_URL": pg_server_url}
    passes(root, example_file("### The fixtures on PostgreSQL"), env)
