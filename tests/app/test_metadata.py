"""The metadata users read: hook ids, their commands, their doc sections, the manifest regexes."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from ci.__main__ import COMMANDS
from tests.conftest import REPO

HOOK_IDS = {
    "migration-numbering": "numbering",
    "migration-checksums": "checksums",
    "migration-lint": "lint",
    "migration-apply-empty": "apply_empty",
    "migration-apply-sample": "apply_sample",
    "migration-rollback": "rollback_roundtrip",
}
COMMIT_TIME = {"migration-numbering", "migration-checksums", "migration-lint"}
# Manual-stage hooks that write the lock: the `To fix` commands of users who have the checks only
# through pre-commit (no `ci` module in their shell).
LOCK_HOOKS = {"migration-lock-update": "lock_update", "migration-lock-rehash": "lock_rehash"}


def manifest() -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return hooks


def scripts() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, str] = project["project"]["scripts"]
    return found


def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def hook_section(hook_id: str) -> str:
    """The section `## `hook-id`` of docs/hooks.md, where every hook is documented."""
    text = (REPO / "docs" / "hooks.md").read_text(encoding="utf-8")
    heading = f"\n## `{hook_id}`\n"
    assert heading in text, f"docs/hooks.md has no section for {hook_id}"
    start = text.index(heading) + len(heading)
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)]


def check_hooks() -> list[dict[str, Any]]:
    return [h for h in manifest() if h["id"] not in LOCK_HOOKS]


def test_the_six_hooks_of_the_spec() -> None:
    hooks = manifest()
    assert [h["id"] for h in hooks] == [*HOOK_IDS, *LOCK_HOOKS]
    for hook in hooks:
        assert hook["language"] == "python"
        assert list(hook)[:5] == ["id", "name", "description", "entry", "language"]
        # one process per hook and run: one verdict (lint too: never "Failed" and "Passed" for
        # one commit), and the lock hooks never write the lock from two processes at once
        assert hook.get("require_serial") is True, hook["id"]
    for hook in check_hooks():
        whole_directory = hook["id"] != "migration-lint"
        assert hook.get("pass_filenames", True) is not whole_directory, hook["id"]
        at_commit = "pre-commit" in hook["stages"]
        assert at_commit is (hook["id"] in COMMIT_TIME), hook["id"]
        assert "manual" in hook["stages"] and "pre-push" in hook["stages"]


@pytest.mark.parametrize("hook_id", list(HOOK_IDS))
def test_every_hook_has_a_command_an_importable_main_and_a_docs_section(hook_id: str) -> None:
    (hook,) = [h for h in manifest() if h["id"] == hook_id]
    target = scripts()[hook["entry"]]  # the entry is a console script of this package
    module_name, _, function = target.partition(":")
    assert module_name == f"hooks.{HOOK_IDS[hook_id]}" and function == "main"
    main = getattr(importlib.import_module(module_name), function)
    assert callable(main)
    assert callable(importlib.import_module(f"ci.{HOOK_IDS[hook_id]}").main)
    assert "Stage:" in hook_section(hook_id)
    done = subprocess.run(
        [sys.executable, "-m", module_name, "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--migrations-dir" in done.stdout, done.stderr


@pytest.mark.parametrize(
    "path",
    [
        "schema/migrations/schema/0001_initial.sql",
        "schema/migrations/rollback/0001_rollback.sql",
        "schema/migrations/0001_flat_layout.sql",
        "db/migrations/0001_x.sql",  # migrations_dir: db/migrations in migration-guard.yaml
        "app/schema/migrations/schema/0001_x.sql",
    ],
)
def test_no_hook_skips_migrations_outside_the_default_directory(path: str) -> None:
    """The directory comes from the config: `files:` must not decide it. Whole-directory hooks
    always run (and return at once when nothing relevant changed); lint gets every .sql file."""
    for hook in check_hooks():
        assert hook.get("always_run") or re.search(hook["files"], path), (hook["id"], path)
        if hook["id"] != "migration-lint":
            assert hook.get("always_run") is True, hook["id"]
            for other in ("schema/migrations.lock", "migration-guard.yaml"):
                assert re.search(hook["files"], other), (hook["id"], other)


@pytest.mark.parametrize("hook_id", list(LOCK_HOOKS))
def test_the_lock_hooks_run_on_demand_and_have_a_command(hook_id: str) -> None:
    """The update also runs at commit (the commit that adds a migration carries its lock
    entry); the rehash, which accepts edits of applied files, only when asked."""
    (hook,) = [h for h in manifest() if h["id"] == hook_id]
    stages = ["pre-commit", "manual"] if hook_id == "migration-lock-update" else ["manual"]
    assert hook["stages"] == stages
    assert scripts()[hook["entry"]] == f"hooks.{LOCK_HOOKS[hook_id]}:main"
    assert callable(importlib.import_module(f"hooks.{LOCK_HOOKS[hook_id]}").main)
    assert f"pre-commit run {hook_id} --hook-stage manual" in hook_section(hook_id)


def test_every_cli_command_has_a_main() -> None:
    assert scripts()["migration-guard"] == "ci.__main__:cli"
    for command, module in COMMANDS.items():
        assert callable(importlib.import_module(module).main), command


def test_readme_example_workflow_is_a_valid_workflow(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(name: migrations\n.*?)```", readme(), re.DOTALL)
    assert block, "the README's example workflow"
    workflow = tmp_path / "migrations.yml"
    workflow.write_text(block.group(1), encoding="utf-8")
    uses = re.findall(r"uses: ([\w./-]+)@(\S+)", block.group(1))
    assert uses and all(re.fullmatch(r"[0-9a-f]{40}", ref) for _, ref in uses), uses
    assert "actions/upload-artifact" in {name for name, _ in uses}
    done = subprocess.run(
        [
            shutil.which("check-jsonschema")
            or str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def use_it_section() -> tuple[int, str]:
    """The "Use it in your repository" section: its first line number and its text."""
    text = readme()
    start = text.index("\n## Use it in your repository\n") + 1
    end = text.find("\n## ", start)
    return text[:start].count("\n") + 1, text[start:end]


def test_use_it_in_your_repository_comes_first_and_is_complete() -> None:
    first_line, section = use_it_section()
    last_line = first_line + section.count("\n")
    assert last_line <= 80, f"the section must end within the README's first 80 lines: {last_line}"
    assert "pip install" in section
    config = re.search(r"```yaml\n(repos:\n.*?)```", section, re.DOTALL)
    assert config, "the .pre-commit-config.yaml block"
    (repo,) = yaml.safe_load(config[1])["repos"]
    assert repo["rev"] == "<full commit sha>"
    listed = [h["id"] for h in repo["hooks"]]
    assert sorted(listed) == sorted(h["id"] for h in manifest())
    assert listed[0] == "migration-lock-update"  # before the checks: the commit takes the lock
    assert "pre-commit install --hook-type pre-commit --hook-type pre-push" in section
    assert "pip install pre-commit" in section  # a newcomer may not have it
    assert "--force-reinstall" in section  # every commit is 0.1.0: pip keeps the old one
    assert "migration-guard checksums --update" in section
    workflow = re.search(r"```yaml\n(name: migrations\n.*?)```", section, re.DOTALL)
    assert workflow, "the workflow file"
    (guard,) = [s for s in yaml.safe_load(workflow[1])["jobs"]["migration-guard"]["steps"]
                if "migration-guard@" in s.get("uses", "")]  # fmt: skip
    assert re.fullmatch(r"[\w-]+/migration-guard@[0-9a-f]{40}", guard["uses"])
    assert "base-ref" in guard["with"]
    for command in ("--status --detect", "--baseline N", "--all"):
        assert command in section, command
