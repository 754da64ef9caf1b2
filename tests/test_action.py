"""action.yml: GitHub's schema, zizmor, and its run steps executed locally as the runner would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml

from tests.conftest import JUNIT_XSD, REPO, git

ACTION = REPO / "action.yml"
XSD = JUNIT_XSD if JUNIT_XSD.is_file() else Path(__file__).parent / "data" / JUNIT_XSD.name
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
M = "schema/migrations"


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return loaded


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(name) or str(Path(sys.executable).parent / name)
    return subprocess.run(
        [executable, *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=300
    )


def test_action_matches_githubs_schema() -> None:
    done = tool("check-jsonschema", "--builtin-schema", "vendor.github-actions", str(ACTION))
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing() -> None:
    done = tool("zizmor", "--offline", str(ACTION))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings" in done.stdout + done.stderr


def test_inputs_reach_scripts_only_through_env_and_uses_are_pinned() -> None:
    spec = action()
    assert set(spec["inputs"]) == {
        "checks",
        "migrations-dir",
        "sample",
        "base-ref",
        "junit-path",
        "python-version",
    }
    assert set(spec["outputs"]) == {"failed", "report"}
    for step in spec["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]  # script injection
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    assert "# v" in ACTION.read_text(encoding="utf-8")  # the pinned version, for humans


def evaluate(value: str, inputs: dict[str, str], github: dict[str, str]) -> str:
    """The only expressions the action may use: `inputs.<name>` and `github.<name>`."""

    def one(match: re.Match[str]) -> str:
        scope, _, name = match.group(1).partition(".")
        assert scope in ("inputs", "github"), f"unexpected expression {match.group(0)}"
        return inputs[name] if scope == "inputs" else github.get(name, "")

    return EXPRESSION.sub(one, value)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of the action (GITHUB_ACTION_PATH) and a venv standing in for setup-python."""
    base = tmp_path_factory.mktemp("runner")
    action_path = base / "action"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("ci", "hooks"):
        shutil.copytree(REPO / name, action_path / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "action.yml"):
        shutil.copy(REPO / name, action_path / name)
    venv = base / "venv"
    # setup-python's interpreter; the test's own packages stand in for PyPI's (a .pth file, not
    # --system-site-packages: under .ci/run the test interpreter is itself a venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (site_packages,) = venv.glob("lib/python3*/site-packages")
    parents = [p for p in sys.path if p.endswith("-packages") and Path(p).is_dir()]
    (site_packages / "_test_parent.pth").write_text("\n".join(parents) + "\n", encoding="utf-8")
    paths = {"action": action_path, "bin": venv / "bin", "temp": base}
    (install,), _, _ = run_steps(paths, base, {}, {}, only="install")  # once for the module
    assert install.returncode == 0, install.stdout + install.stderr
    return paths


def run_steps(
    runner: dict[str, Path],
    workspace: Path,
    inputs: dict[str, str],
    github: dict[str, str],
    *,
    only: str = "check",
) -> tuple[list[subprocess.CompletedProcess[str]], dict[str, str], str]:
    """Run the `run:` step `only` with bash as the runner does; return outputs and the summary."""
    spec = action()
    values = {name: str(i.get("default", "")) for name, i in spec["inputs"].items()}
    values.update(inputs)
    files = runner["temp"] / f"files-{len(list(runner['temp'].iterdir()))}"
    files.mkdir()
    output, summary = files / "output", files / "summary"
    output.touch()
    summary.touch()
    base_env = {
        **os.environ,
        "PATH": f"{runner['bin']}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(runner["bin"].parent),
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION_PATH": str(runner["action"]),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(files),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    done = []
    for step in spec["runs"]["steps"]:
        if "run" not in step or step["id"] != only:
            continue  # actions/setup-python: the venv above; the install: once per module
        assert step["shell"] == "bash"
        env = {k: evaluate(str(v), values, github) for k, v in step.get("env", {}).items()}
        script = files / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env={**base_env, **env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        done.append(result)
        if result.returncode != 0:
            break
    return done, read_outputs(output.read_text(encoding="utf-8")), summary.read_text("utf-8")


def read_outputs(text: str) -> dict[str, str]:
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        name, delimiter = line.split("<<", 1)
        values[name] = "\n".join(iter(lambda: next(lines), delimiter))
    return values


def workspace_with(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


GOOD = {
    f"{M}/schema/0001_init.sql": "CREATE TABLE patients (id INTEGER, name TEXT);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
}


def test_run_steps_report_a_missing_rollback(runner: dict[str, Path], git_repo: Path) -> None:
    # 0002 has no rollback file: numbering fails, the migrations still apply
    workspace = workspace_with(
        git_repo, {**GOOD, f"{M}/schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER);\n"}
    )
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "migrations")
    steps, outputs, summary = run_steps(
        runner,
        workspace,
        {"checks": "numbering,apply-empty", "junit-path": "reports/junit.xml"},
        {"base_ref": "main"},  # a pull request whose base was not fetched
    )
    (check,) = steps
    assert check.returncode == 1, check.stdout + check.stderr
    assert "::notice title=migration-guard::origin/main was not fetched" in check.stdout
    assert re.search(
        rf"^::error file={M}/schema/0002_vitals\.sql,title=MG107 \(numbering\)::migration 0002",
        check.stdout,
        re.MULTILINE,
    ), check.stdout
    assert outputs == {"failed": "true", "report": "reports/junit.xml"}
    xmlschema.XMLSchema(XSD).validate(workspace / "reports/junit.xml")
    assert "| numbering | ❌ failed |" in summary
    assert re.search(
        r"\| apply_empty \| 0002 schema/0002_vitals\.sql \| schema \| [\d.]+ \| \d* "
        r"\| ✅ passed \|",
        summary,
    ), summary


def test_run_steps_pass_and_inputs_are_not_code(runner: dict[str, Path], git_repo: Path) -> None:
    workspace = workspace_with(git_repo, GOOD)
    steps, outputs, summary = run_steps(
        runner, workspace, {"checks": "numbering,rollback"}, {"base_ref": ""}
    )
    assert [s.returncode for s in steps] == [0], steps[-1].stdout + steps[-1].stderr
    assert outputs == {"failed": "false", "report": "migration-guard-junit.xml"}
    assert "migration-guard: ✅ passed" in summary

    hostile = "$(touch pwned); `touch pwned2`"
    steps, outputs, _ = run_steps(runner, workspace, {"migrations-dir": hostile}, {})
    assert steps[-1].returncode == 2  # a directory of that name does not exist: could not run
    assert not (workspace / "pwned").exists() and not (workspace / "pwned2").exists()
    assert outputs["failed"] == "true"
