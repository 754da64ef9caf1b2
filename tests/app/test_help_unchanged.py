"""Every command's `--help` is the one recorded before the architecture step (tests/data/help).

The faces users run keep their options exactly; a change here is a change of the user-facing
contract and must be made on purpose, by re-recording the file in the same commit.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

RECORDED = REPO / "tests" / "data" / "help"


@pytest.mark.parametrize("module", sorted(path.stem for path in RECORDED.glob("*.txt")))
def test_help_is_unchanged(module: str) -> None:
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == (RECORDED / f"{module}.txt").read_text(encoding="utf-8")
