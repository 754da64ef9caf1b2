"""GitLab Code Quality (`--format gitlab`, `python -m ci --codequality FILE`): real runs, checked
against GitLab's own entry schema and the report schema written from GitLab's documentation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.app.test_sarif import CONFIG, SCHEMAS, UNBOUNDED, broken_example, json_issue_count
from tests.conftest import M, output, run_in

FINGERPRINT_KEY = "migrationGuard/v1"


def schema(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))


def validate(report: list[dict[str, Any]]) -> None:
    """Against the documented whole-report schema, then each entry against GitLab's own."""
    schema("gitlab-code-quality-report.json").validate(report)
    entry = schema("gitlab-codeclimate.json")
    for item in report:
        entry.validate(item)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = broken_example(tmp_path_factory.mktemp("gitlab") / "repo")
    done = run_in(
        root,
        "ci",
        "--config",
        CONFIG,
        "--format",
        "json",
        "--codequality",
        "gl-code-quality-report.json",
        "--sarif",
        "out.sarif",
        "--junit",
        "junit.xml",
    )
    return {
        "done": done,
        "json": json.loads(done.stdout),
        "gitlab": json.loads((root / "gl-code-quality-report.json").read_text(encoding="utf-8")),
        "sarif": json.loads((root / "out.sarif").read_text(encoding="utf-8")),
        "root": root,
    }


def test_the_broken_example_is_a_valid_code_quality_report(run: dict[str, Any]) -> None:
    assert run["done"].returncode == 2, output(run["done"])
    report = run["gitlab"]
    validate(report)
    assert len(report) == json_issue_count(run["json"]) > 5
    fingerprints = [entry["fingerprint"] for entry in report]
    assert len(set(fingerprints)) == len(fingerprints)  # GitLab folds equal fingerprints
    sarif = run["sarif"]["runs"][0]["results"]
    assert fingerprints == [r["partialFingerprints"][FINGERPRINT_KEY] for r in sarif]
    assert (run["root"] / "junit.xml").is_file()  # one run, every file


def test_severities_paths_and_lines(run: dict[str, Any]) -> None:
    by_name = {entry["check_name"]: entry for entry in run["gitlab"]}
    assert by_name["MG502"]["location"] == {
        "path": f"{M}/data/0010_touch.sql",
        "lines": {"begin": 2},
    }
    assert by_name["MG502"]["severity"] == "major"
    assert by_name["MG502"]["description"].startswith("MG502: ")
    assert "To fix: " in by_name["MG502"]["description"]
    # no line known: line 1 of the file; could not run: the config file, critical
    assert by_name["MG107"]["location"]["lines"] == {"begin": 1}
    assert by_name["could-not-run"]["location"] == {"path": CONFIG, "lines": {"begin": 1}}
    assert by_name["could-not-run"]["severity"] == "critical"
    for entry in run["gitlab"]:
        assert (run["root"] / entry["location"]["path"]).exists(), entry


def lint_report(root: Path) -> list[dict[str, Any]]:
    done = run_in(root, "ci.lint", "--all", "--format", "gitlab", f"{M}/data/0010_touch.sql")
    assert done.returncode == 1, output(done)
    report: list[dict[str, Any]] = json.loads(done.stdout)
    validate(report)
    return report


def test_a_finding_that_moves_keeps_its_fingerprint(git_repo: Path) -> None:
    migration = git_repo / f"{M}/data/0010_touch.sql"
    migration.parent.mkdir(parents=True)
    migration.write_text("-- @irreversible a test\n" + UNBOUNDED, encoding="utf-8")
    (before,) = [e for e in lint_report(git_repo) if e["check_name"] == "MG502"]
    migration.write_text("-- @irreversible a test\n\n\n\n" + UNBOUNDED, encoding="utf-8")
    (after,) = [e for e in lint_report(git_repo) if e["check_name"] == "MG502"]
    assert (before["location"]["lines"]["begin"], after["location"]["lines"]["begin"]) == (2, 5)
    assert after["fingerprint"] == before["fingerprint"]


def test_a_check_that_could_not_run_is_an_entry(tmp_path: Path) -> None:
    done = run_in(tmp_path, "ci.checksums", "--migrations-dir", "nowhere", "--format", "gitlab")
    assert done.returncode == 2, output(done)
    (entry,) = json.loads(done.stdout)
    validate([entry])
    assert entry["check_name"] == "could-not-run"
    assert entry["location"] == {"path": "nowhere", "lines": {"begin": 1}}


def test_a_passing_run_is_an_empty_report(tmp_path: Path) -> None:
    (tmp_path / f"{M}/schema").mkdir(parents=True)
    (tmp_path / f"{M}/rollback").mkdir(parents=True)
    (tmp_path / f"{M}/schema/0001_t.sql").write_text("CREATE TABLE t (a);\n", encoding="utf-8")
    (tmp_path / f"{M}/rollback/0001_rollback.sql").write_text("DROP TABLE t;\n", encoding="utf-8")
    done = run_in(tmp_path, "ci", "--checks", "numbering", "--codequality", "cq.json")
    assert done.returncode == 0, output(done)
    assert json.loads((tmp_path / "cq.json").read_text(encoding="utf-8")) == []
    again = run_in(tmp_path, "ci", "--checks", "numbering", "--codequality", "cq.json")
    assert again.returncode == 0, output(again)  # its own earlier report is replaced


def test_codequality_never_overwrites_a_file_that_is_not_one(tmp_path: Path) -> None:
    root = broken_example(tmp_path / "repo")
    (root / "data.json").write_text('[{"id": 1}]\n', encoding="utf-8")
    for target in ("data.json", CONFIG):
        before = (root / target).read_bytes()
        done = run_in(root, "ci", "--checks", "numbering", "--codequality", target)
        assert done.returncode == 2, output(done)
        assert done.stderr.count("\n") == 1 and "--codequality" in done.stderr, done.stderr
        assert (root / target).read_bytes() == before


def test_the_config_file_may_name_the_report_files(tmp_path: Path) -> None:
    root = broken_example(tmp_path / "repo")
    config = root / CONFIG
    config.write_text(
        config.read_text(encoding="utf-8") + "sarif: out.sarif\ncodequality: cq.json\n",
        encoding="utf-8",
    )
    done = run_in(root, "ci", "--config", CONFIG, "--checks", "numbering")
    assert done.returncode == 1, output(done)
    report = json.loads((root / "cq.json").read_text(encoding="utf-8"))
    validate(report)
    sarif = json.loads((root / "out.sarif").read_text(encoding="utf-8"))
    assert len(report) == len(sarif["runs"][0]["results"]) == 2  # MG102, MG107


def test_precheck_could_not_run_is_placed_at_its_database(tmp_path: Path) -> None:
    done = run_in(tmp_path, "ci.precheck", "--db", "absent.db", "--format", "gitlab")
    assert done.returncode == 2, output(done)
    (entry,) = json.loads(done.stdout)
    validate([entry])
    assert entry["location"] == {"path": "absent.db", "lines": {"begin": 1}}
    assert entry["severity"] == "critical"
