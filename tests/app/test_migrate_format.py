"""`ci.migrate --format github` in a deploy workflow: the text as always, `::error` annotations
on the file and line that failed, a summary table in $GITHUB_STEP_SUMMARY, the step outputs.
And `--format` is command line only. Real processes, real SQLite files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import BASE, MIGRATIONS, WriteTree, run_module, tree

M = MIGRATIONS
BAD_THIRD = "INSERT INTO patients (mrn) VALUES ('a');\nSELECT 1;\nCREAT TABLE x (y);\n"


def migrate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in the tree, as a workflow step runs it (its files under tmp)."""
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(root),
        "GITHUB_STEP_SUMMARY": str(root / "summary.md"),
        "GITHUB_OUTPUT": str(root / "output.txt"),
    }
    return run_module("ci.migrate", "--db", "app.db", *args, cwd=root, env=env, timeout=120)


def test_a_failing_deploy_annotates_the_file_and_line_and_summarises(
    write_tree: WriteTree,
) -> None:
    root = write_tree(tree(BASE | {"data/0003_bad.sql": BAD_THIRD}))
    text = migrate(root, "--no-backup", "--target", "1")
    assert text.returncode == 0
    assert not (root / "summary.md").exists()  # the text format writes no GitHub files
    done = migrate(root, "--no-backup", "--format", "github")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "app.db: 2 to apply (0002 .. 0003; at 0001, head 0003)"  # the text
    where = f"file={M}/data/0003_bad.sql,line=3"
    assert f'::error {where},title=migration failed::near "CREAT": syntax error' in lines
    summary = (root / "summary.md").read_text("utf-8")
    assert summary.startswith("## migration-guard migrate (apply): ❌ migration failed")
    assert "database `app.db` at 0002 (head 0003); 2 applied; 1 pending; 0 dirty" in summary
    assert f"| 0002 | schema | `{M}/schema/0002_vitals.sql` | applied | 5 |" in summary
    assert f"| 0003 | data | `{M}/data/0003_bad.sql` |" in summary  # pending
    assert f'migration-failed (`{M}/data/0003_bad.sql:3`): near "CREAT": syntax error' in summary
    outputs = (root / "output.txt").read_text("utf-8")
    assert "failed<<" in outputs and "\ntrue\n" in outputs and "version<<" in outputs


def test_a_clean_deploy_and_status(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    done = migrate(root, "--format", "github")
    assert done.returncode == 0 and "::error" not in done.stdout
    assert "OK: database at 0002 (head 0002)" in done.stdout
    status = migrate(root, "--status", "--format", "github")
    assert status.returncode == 0 and status.stdout.startswith("app.db: version 0002")
    summary = (root / "summary.md").read_text("utf-8")
    assert summary.count("## migration-guard migrate") == 2
    assert "## migration-guard migrate (status): ✅ ok" in summary
    assert "2 applied; 0 pending; 0 dirty; this run: 2 steps" in summary
    outputs = (root / "output.txt").read_text("utf-8")
    assert outputs.count("\nfalse\n") == 2 and outputs.count("\n2\n") == 2


def test_an_edited_applied_file_is_annotated_where_it_is(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    assert migrate(root).returncode == 0
    (root / M / "schema/0001_patients.sql").write_text("CREATE TABLE patients (id INTEGER);\n")
    status = migrate(root, "--status", "--format", "github")
    assert status.returncode == 1
    assert (
        f"::error file={M}/schema/0001_patients.sql,title=applied migration edited::"
        in status.stdout
    )
    refused = migrate(root, "--format", "github")
    assert refused.returncode == 1
    assert f"::error file={M}/schema/0001_patients.sql,title=migrate refused::" in refused.stdout
    assert refused.stdout.count("::error") == 1  # said once, by the refusal


def test_format_is_command_line_only(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE) | {"migration-guard.yaml": "output_format: json\n"})
    done = migrate(root, "--status")
    assert done.returncode == 2 and done.stdout == ""
    assert "--format is command line only for ci.migrate" in done.stderr
    # the checks' own `format` key does not change the runner's output
    (root / "migration-guard.yaml").write_text("format: json\n")
    plain = migrate(root, "--status")
    assert plain.returncode == 0 and plain.stdout.startswith("app.db: no database yet")


def test_an_unwritable_summary_is_one_line_and_keeps_the_exit_code(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    (root / "summary.md").mkdir()  # GITHUB_STEP_SUMMARY names a directory
    done = migrate(root, "--format", "github")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"migrate: {root / 'summary.md'}: cannot write: Is a directory"
    assert "OK: database at 0002 (head 0002)" in done.stdout
