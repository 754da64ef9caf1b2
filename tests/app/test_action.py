"""action.yml: GitHub's schema, zizmor, and its run steps executed locally as the runner would."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml

from tests.app.fake_github import NUMBER, REPOSITORY, TOKEN, fake_github
from tests.conftest import JUNIT_XSD, REPO, M, git, write

ACTION = REPO / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


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
        "config",
        "migrations-dir",
        "sample",
        "base-ref",
        "junit-path",
        "python-version",
        "working-directory",
        "comment",
        "sarif",
    }
    assert set(spec["outputs"]) == {"failed", "report"}
    for step in spec["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]  # script injection
        if "uses" in step:
            # owner/repo[/path in the repository]@full commit sha
            pinned = r"[\w.-]+/[\w.-]+(/[\w.-]+)*@[0-9a-f]{40}"
            assert re.fullmatch(pinned, step["uses"]), step["uses"]
    assert "# v" in ACTION.read_text(encoding="utf-8")  # the pinned version, for humans


def evaluate(
    value: str, inputs: dict[str, str], github: dict[str, str], steps: dict[str, str]
) -> str:
    """The only expressions the action may use: `inputs.<name>`, `github.<name>` and the
    outputs of its own earlier steps (`steps.<id>.outputs.<name>`)."""

    def one(match: re.Match[str]) -> str:
        scope, _, name = match.group(1).partition(".")
        assert scope in ("inputs", "github", "steps"), f"unexpected expression {match.group(0)}"
        if scope == "steps":
            return steps[name]
        return inputs[name] if scope == "inputs" else github.get(name, "")

    return EXPRESSION.sub(one, value)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """A copy of the action (GITHUB_ACTION_PATH), installed once by its own install step.

    actions/setup-python (with `update-environment: false`) only hands the install step the path
    of an interpreter: this test's. The install step makes its own virtual environment and
    installs from the package index with the action's constraints file, as on a runner.
    """
    base = tmp_path_factory.mktemp("runner")
    action_path = base / "action"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("ci", "hooks", "action"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, action_path / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "action.yml"):
        shutil.copy(REPO / name, action_path / name)
    steps = {"python.outputs.python-path": sys.executable}
    done = Runner(action=action_path, temp=base, steps=steps)
    (install,), outputs, _ = run_steps(done, base, {}, {}, only="install")  # once for the module
    assert install.returncode == 0, install.stdout + install.stderr
    done.steps.update({f"install.outputs.{name}": value for name, value in outputs.items()})
    return done


@dataclass
class Runner:
    action: Path  # GITHUB_ACTION_PATH
    temp: Path  # a RUNNER_TEMP per step run is made under it
    steps: dict[str, str]  # outputs of the steps already run: "<id>.outputs.<name>" -> value


def run_steps(
    runner: Runner,
    workspace: Path,
    inputs: dict[str, str],
    github: dict[str, str],
    *,
    only: str = "check",
    job_env: dict[str, str] | None = None,
    job_files: list[str] | None = None,
) -> tuple[list[subprocess.CompletedProcess[str]], dict[str, str], str]:
    """Run the `run:` step `only` with bash as the runner does; return outputs and the summary.

    `job_env` is the job's own environment (e.g. a PYTHONPATH it set); `job_files` receives what
    the step wrote to GITHUB_ENV and GITHUB_PATH, the files through which a step changes the job.
    """
    spec = action()
    values = {name: str(i.get("default", "")) for name, i in spec["inputs"].items()}
    values.update(inputs)
    files = runner.temp / f"files-{len(list(runner.temp.iterdir()))}"
    files.mkdir()
    output, summary = files / "output", files / "summary"
    job_changes = {"GITHUB_ENV": files / "env", "GITHUB_PATH": files / "path"}
    for path in (output, summary, *job_changes.values()):
        path.touch()
    base_env = {
        **os.environ,
        **(job_env or {}),
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION_PATH": str(runner.action),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(files),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **{name: str(path) for name, path in job_changes.items()},
    }
    base_env.pop("VIRTUAL_ENV", None)  # the job's shell has no virtual environment active
    done = []
    for step in spec["runs"]["steps"]:
        if "run" not in step or step["id"] != only:
            continue  # actions/setup-python: the runner fixture; the install: once per module
        assert step["shell"] == "bash"
        env = {
            k: evaluate(str(v), values, github, runner.steps)
            for k, v in step.get("env", {}).items()
        }
        script = files / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env={**base_env, **env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        done.append(result)
        if result.returncode != 0:
            break
    if job_files is not None:
        job_files.extend(path.read_text(encoding="utf-8") for path in job_changes.values())
    return done, read_outputs(output.read_text(encoding="utf-8")), summary.read_text("utf-8")


def read_outputs(text: str) -> dict[str, str]:
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" not in line.partition("=")[0]:  # name=value, one line
            name, _, value = line.partition("=")
            values[name] = value
            continue
        name, delimiter = line.split("<<", 1)
        values[name] = "\n".join(iter(lambda: next(lines), delimiter))
    return values


def workspace_with(root: Path, files: dict[str, str]) -> Path:
    write(root, files)
    return root


GOOD = {
    f"{M}/schema/0001_init.sql": "CREATE TABLE patients (id INTEGER, name TEXT);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
}


def test_run_steps_report_a_missing_rollback(runner: Runner, git_repo: Path) -> None:
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
    xmlschema.XMLSchema(JUNIT_XSD).validate(workspace / "reports/junit.xml")
    assert "| numbering | ❌ failed |" in summary
    assert re.search(
        r"\| apply_empty \| 0002 schema/0002_vitals\.sql \| schema \| [\d.]+ \| \d* "
        r"\| ✅ passed \|",
        summary,
    ), summary


def test_run_steps_pass_and_inputs_are_not_code(runner: Runner, git_repo: Path) -> None:
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


def test_the_jobs_python_is_left_alone(runner: Runner, git_repo: Path) -> None:
    """setup-python only hands over an interpreter; no step changes the job's PATH or env."""
    (setup,) = [s for s in action()["runs"]["steps"] if "setup-python" in s.get("uses", "")]
    assert setup["with"]["update-environment"] is False
    changes: list[str] = []
    workspace = workspace_with(git_repo, GOOD)
    steps, _, _ = run_steps(runner, workspace, {"checks": "numbering"}, {}, job_files=changes)
    assert [s.returncode for s in steps] == [0], steps[-1].stdout + steps[-1].stderr
    assert changes == ["", ""]  # GITHUB_ENV, GITHUB_PATH: nothing written
    command = Path(runner.steps["install.outputs.command"])
    assert command.name == "migration-guard" and command.is_file()
    assert shutil.which("migration-guard", path=os.environ["PATH"]) != str(command)


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "action" / "constraints.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[canonical(name)] = version
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_install_is_exactly_the_constraints_file(runner: Runner) -> None:
    """Every distribution the action installs is pinned, so one action commit lints alike."""
    python = Path(runner.steps["install.outputs.command"]).parent / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--exclude-editable"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    installed = {
        canonical(d["name"]): d["version"]
        for d in json.loads(done.stdout)
        if canonical(d["name"]) not in ("migration-guard", "pip", "setuptools")
    }
    assert {"sqlfluff", "pyyaml", "junit-xml"} <= set(installed)
    assert installed == constraints()


PROJECT_CI = {
    # the project's own CI helpers: a package named ci, with no __main__
    "ci/__init__.py": '"""Our deploy scripts."""\n',
    "ci/deploy.py": "raise SystemExit('the project\\'s ci package was imported')\n",
}


def test_a_repository_with_its_own_ci_package(runner: Runner, git_repo: Path) -> None:
    workspace = workspace_with(git_repo, {**GOOD, **PROJECT_CI})
    lock = subprocess.run(
        [runner.steps["install.outputs.command"], "checksums", "--update"],
        cwd=workspace, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lock.returncode == 0, lock.stdout + lock.stderr
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "migrations and our ci package")
    # even with the workspace on the job's PYTHONPATH, the action's own package is the one run
    steps, outputs, summary = run_steps(
        runner, workspace, {}, {}, job_env={"PYTHONPATH": str(workspace)}
    )
    (check,) = steps
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No module named" not in check.stdout + check.stderr
    assert outputs["failed"] == "false"
    assert "migration-guard: ✅ passed" in summary
    xmlschema.XMLSchema(JUNIT_XSD).validate(workspace / outputs["report"])


def test_working_directory_and_config_inputs(runner: Runner, git_repo: Path) -> None:
    """A monorepo: the project lives in services/db with a config file of another name."""
    project = "services/db"
    files = {
        f"{project}/db/migrations/schema/0001_init.sql": GOOD[f"{M}/schema/0001_init.sql"],
        f"{project}/db/migrations/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
        f"{project}/db/migrations/schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER);\n",
        f"{project}/config/guard.yaml": "migrations_dir: db/migrations\nchecks: [numbering]\n",
    }
    workspace = workspace_with(git_repo, {**files, **PROJECT_CI})
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "a monorepo")
    steps, outputs, summary = run_steps(
        runner,
        workspace,
        {"working-directory": project, "config": "config/guard.yaml"},
        {},
    )
    (check,) = steps
    assert check.returncode == 1, check.stdout + check.stderr
    # annotations name the file from the repository root, or GitHub cannot attach them
    assert re.search(
        rf"^::error file={project}/db/migrations/schema/0002_vitals\.sql,title=MG107",
        check.stdout,
        re.MULTILINE,
    ), check.stdout
    assert "| numbering | ❌ failed |" in summary
    assert outputs["failed"] == "true"
    report = workspace / outputs["report"]  # found from the workspace, as upload-artifact does
    assert report == workspace / project / "migration-guard-junit.xml"
    xmlschema.XMLSchema(JUNIT_XSD).validate(report)


def test_a_missing_working_directory_is_one_line(runner: Runner, git_repo: Path) -> None:
    steps, outputs, _ = run_steps(runner, git_repo, {"working-directory": "no/such/dir"}, {})
    (check,) = steps
    assert check.returncode == 2
    assert "Traceback" not in check.stderr
    (line,) = [x for x in check.stdout.splitlines() if x]
    assert line.startswith("::error title=migration-guard::") and "no/such/dir" in line, line
    assert outputs["failed"] == "true"


def pull_request_job(tmp_path: Path, api: str) -> dict[str, str]:
    """The environment the runner gives a job on a pull_request event."""
    event = tmp_path / "event.json"
    payload = {"pull_request": {"number": NUMBER, "head": {"sha": "c0ffee"}}}
    event.write_text(json.dumps(payload), encoding="utf-8")
    return {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": api,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SERVER_URL": "https://github.com",
    }


def check_then_comment(
    runner: Runner, workspace: Path, job: dict[str, str], inputs: dict[str, str] | None = None
) -> tuple[dict[str, str], list[subprocess.CompletedProcess[str]], str]:
    """The check step, then the comment step with the check's outputs, as the runner chains
    them (the comment step runs after a failed check: `if: !cancelled()`)."""
    checked, outputs, _ = run_steps(runner, workspace, inputs or {}, {}, job_env=job)
    assert checked[-1].returncode in (0, 1), checked[-1].stdout + checked[-1].stderr
    if "comment" not in outputs:
        return outputs, [], ""
    chained = Runner(
        runner.action, runner.temp, {**runner.steps, "check.outputs.comment": outputs["comment"]}
    )
    commented, _, summary = run_steps(
        chained, workspace, inputs or {}, {"token": TOKEN}, only="comment", job_env=job
    )
    return outputs, commented, summary


def test_the_comment_step_creates_updates_and_falls_back(
    runner: Runner, git_repo: Path, tmp_path: Path
) -> None:
    workspace = workspace_with(
        git_repo, {**GOOD, f"{M}/schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER);\n"}
    )
    inputs = {"checks": "numbering,apply-empty"}
    with fake_github() as (api, state):
        job = pull_request_job(tmp_path, api)
        outputs, (first,), _ = check_then_comment(runner, workspace, job, inputs)
        assert outputs["failed"] == "true"
        assert first.returncode == 0 and "comment created" in first.stdout, first.stderr
        (workspace / M / "rollback" / "0002_rollback.sql").write_text("DROP TABLE vitals;\n")
        outputs, (second,), _ = check_then_comment(runner, workspace, job, inputs)
        assert outputs["failed"] == "false"
        assert second.returncode == 0 and "comment updated" in second.stdout, second.stderr
        (comment,) = state.comments  # one comment, updated in place
        assert [m for m, _ in state.writes()] == ["POST", "PATCH"]
        assert comment["body"].startswith("<!-- migration-guard -->\n### ✅ migration-guard")
        assert "<summary>Schema changes" in comment["body"]  # the changelog, collapsed

        state.read_only = True  # a fork's pull request: the token may not write
        state.comments.clear()
        _, (fork,), summary = check_then_comment(runner, workspace, job, inputs)
        assert fork.returncode == 0
        (line,) = fork.stdout.splitlines()
        assert line.startswith("::notice title=migration-guard::no pull-request comment")
        assert "<!-- migration-guard -->" in summary and state.comments == []
    for step in (first, second, fork):
        assert TOKEN not in step.stdout + step.stderr


def test_the_comment_is_off_outside_pull_requests(
    runner: Runner, git_repo: Path, tmp_path: Path
) -> None:
    workspace = workspace_with(git_repo, GOOD)
    with fake_github() as (api, state):
        push = {**pull_request_job(tmp_path, api), "GITHUB_EVENT_NAME": "push"}
        outputs, commented, _ = check_then_comment(runner, workspace, push, {"checks": "numbering"})
        assert "comment" not in outputs and commented == []
        job = pull_request_job(tmp_path, api)
        off = {"checks": "numbering", "comment": "false"}
        outputs, commented, _ = check_then_comment(runner, workspace, job, off)
        assert "comment" not in outputs and commented == []
        assert state.requests == []
        steps, outputs, _ = run_steps(runner, workspace, {"comment": "yes"}, {}, job_env=job)
        assert steps[-1].returncode == 2 and outputs["failed"] == "true"
        assert "comment must be true, false or auto" in steps[-1].stdout
