"""The Action's `sarif` input: the check step writes the file, the upload is guarded, and a
failed or skipped upload is one line. Steps run locally as in tests/app/test_action.py."""

from __future__ import annotations

import json
from pathlib import Path

from tests.app import test_action as action_tests
from tests.app.test_action import GOOD, Runner, action, run_steps, workspace_with
from tests.app.test_sarif import sarif_validator
from tests.conftest import M

runner = action_tests.runner  # the installed action, shared with the module's tests

MISSING_ROLLBACK = {**GOOD, f"{M}/schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER);\n"}


def steps_named() -> dict[str, dict[str, object]]:
    return {str(step.get("id")): step for step in action()["runs"]["steps"]}


def test_sarif_true_writes_a_valid_file_for_the_upload(runner: Runner, git_repo: Path) -> None:
    workspace = workspace_with(git_repo, MISSING_ROLLBACK)
    (check,), outputs, _ = run_steps(
        runner, workspace, {"checks": "numbering", "sarif": "true"}, {}
    )
    assert check.returncode == 1, check.stdout + check.stderr
    sarif = Path(outputs["sarif"])
    assert sarif.name == "migration-guard.sarif" and workspace not in sarif.parents
    document = json.loads(sarif.read_text(encoding="utf-8"))
    sarif_validator().validate(document)
    (run,) = document["runs"]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == workspace.resolve().as_uri() + "/"
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert uris == {f"{M}/schema/0002_vitals.sql"}
    assert outputs["failed"] == "true"


def test_sarif_is_off_by_default_and_takes_only_true_or_false(
    runner: Runner, git_repo: Path
) -> None:
    workspace = workspace_with(git_repo, GOOD)
    steps, outputs, _ = run_steps(runner, workspace, {"checks": "numbering"}, {})
    assert [s.returncode for s in steps] == [0], steps[-1].stdout + steps[-1].stderr
    assert "sarif" not in outputs
    (check,), outputs, _ = run_steps(runner, workspace, {"sarif": "yes"}, {})
    assert check.returncode == 2
    assert "::error title=migration-guard::input sarif must be true or false" in check.stdout
    assert outputs == {"failed": "true"}


def test_an_upload_that_did_not_happen_is_one_line(runner: Runner, git_repo: Path) -> None:
    for outcome, expected in (
        ("failure", "::warning title=migration-guard::SARIF upload failed: the workflow needs "
         "'permissions: security-events: write'"),
        ("skipped", "::notice title=migration-guard::SARIF not uploaded: a pull request from a "
         "fork"),
    ):  # fmt: skip
        told = Runner(runner.action, runner.temp, {**runner.steps, "upload-sarif.outcome": outcome})
        (notice,), _, _ = run_steps(told, git_repo, {}, {}, only="sarif-notice")
        assert notice.returncode == 0
        assert notice.stdout.startswith(expected) and notice.stdout.count("\n") == 1


def test_the_upload_is_pinned_guarded_and_never_fails_the_job() -> None:
    steps = steps_named()
    upload = steps["upload-sarif"]
    assert str(upload["uses"]).startswith("github/codeql-action/upload-sarif@")
    assert upload["continue-on-error"] is True
    condition = " ".join(str(upload["if"]).split())
    assert "steps.check.outputs.sarif != ''" in condition and "!cancelled()" in condition
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert upload["with"] == {
        "sarif_file": "${{ steps.check.outputs.sarif }}",
        "category": "migration-guard",
    }
    notice = steps["sarif-notice"]
    assert "steps.upload-sarif.outcome != 'success'" in str(notice["if"])
