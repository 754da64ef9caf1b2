"""docs/pytest.md's complete example test file, run as it is in a real pytest process on a copy
of the worked example: the page cannot drift from what the fixtures do."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PAGE = REPO / "docs" / "pytest.md"


def example_file() -> str:
    """The one python block under `## A complete example`."""
    section = PAGE.read_text(encoding="utf-8").split("## A complete example", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1
    return str(blocks[0])


def test_the_documented_example_test_file_passes(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "schema", root / "schema")
    shutil.copy(REPO / "schema" / "migration-guard.yaml", root / "migration-guard.yaml")
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "test_migrations.py").write_text(example_file(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.findall(r"^PASSED (\S+)", done.stdout, flags=re.MULTILINE)
    defined = re.findall(r"^def (test_\w+)", example_file(), flags=re.MULTILINE)
    assert sorted(passed) == sorted(f"tests/test_migrations.py::{name}" for name in defined)
