"""`python -m ci` reads its inputs as the single commands do: FILES stay files, an empty
selection is refused, a list flag replaces the config's list, a sample in apply_sample's section
selects apply_sample. Each runs real processes on real files."""

from __future__ import annotations

import pytest

from tests.conftest import FIRST, M, WriteTree, files_of, output, run_module

LOCK = "schema/migrations.lock"
EDITED = f"{M}/schema/0001_init.sql"


@pytest.mark.parametrize(
    "after_dashes",
    [["--rehash", EDITED], ["--update"], [f"--rehash={EDITED}"], ["--config=evil.yaml"]],
    ids=["rehash", "update", "rehash_equals", "config"],
)
def test_files_after_dashes_never_reach_a_check_as_options(
    write_tree: WriteTree, after_dashes: list[str]
) -> None:
    root = write_tree({**FIRST, "evil.yaml": "checks: [numbering]\n"})
    assert run_module("ci.checksums", "--update", cwd=root).returncode == 0
    (root / EDITED).write_text("CREATE TABLE t (a INTEGER, b TEXT);\n", encoding="utf-8")
    before = files_of(root)
    # a migration among the FILES, so checksums runs rather than skipping an unrelated commit
    done = run_module("ci", "--checks", "checksums", "--", EDITED, *after_dashes, cwd=root)
    assert done.returncode != 0, output(done)  # the edited applied file is still caught
    assert files_of(root) == before, "the lock was rewritten"


def test_a_lint_rule_after_dashes_is_not_turned_off(write_tree: WriteTree) -> None:
    root = write_tree({**FIRST, f"{M}/data/0002_wipe.sql": "DELETE FROM t;\n"})
    done = run_module(
        *("ci", "--checks", "lint", "--no-sqlfluff", "--", f"{M}/data/0002_wipe.sql"),
        "--exclude-rules=MG502",
        cwd=root,
    )
    assert done.returncode != 0, output(done)
    assert "MG502" in done.stdout, output(done)


@pytest.mark.parametrize("selection", [",", "", " , "])
def test_an_empty_selection_is_one_line_and_exit_2(write_tree: WriteTree, selection: str) -> None:
    root = write_tree(FIRST)
    done = run_module("ci", "--checks", selection, cwd=root)
    assert done.returncode == 2, output(done)
    assert done.stdout == "", done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m ci: no check named"), done.stderr


def test_an_empty_selection_in_the_config_is_refused_too(write_tree: WriteTree) -> None:
    root = write_tree({**FIRST, "migration-guard.yaml": "checks: ','\n"})
    done = run_module("ci", cwd=root)
    assert done.returncode == 2, output(done)
    assert done.stderr.strip() == (
        "python -m ci: migration-guard.yaml: checks: no check named in ',' (known: numbering, "
        "checksums, lint, apply_empty, apply_sample, rollback_roundtrip)"
    )


@pytest.mark.parametrize(
    "command",
    [["ci.lint"], ["ci", "--checks", "lint"]],
    ids=["ci.lint", "python_m_ci"],
)
def test_exclude_rules_on_the_command_line_replaces_the_configs_list(
    write_tree: WriteTree, command: list[str]
) -> None:
    root = write_tree(
        {
            **FIRST,
            f"{M}/data/0002_wipe.sql": "DELETE FROM t;\n",
            "migration-guard.yaml": "lint:\n  exclude_rules: MG502\n  no_sqlfluff: true\n",
        }
    )
    as_configured = run_module(*command, cwd=root)
    assert as_configured.returncode == 0, output(as_configured)  # the file turns MG502 off
    replaced = run_module(*command, "--exclude-rules", "MG503", cwd=root)
    assert replaced.returncode == 1, output(replaced)  # only MG503 is off now
    assert "MG502" in replaced.stdout, output(replaced)


SAMPLE_FAILS = {
    **FIRST,
    f"{M}/schema/0002_unique.sql": "CREATE UNIQUE INDEX t_a ON t (a);\n",
    f"{M}/rollback/0002_rollback.sql": "DROP INDEX t_a;\n",
    "sample.sql": "-- @sample-version 1\nINSERT INTO t VALUES (1), (1);\n",
}


@pytest.mark.parametrize(
    "config",
    ["sample: sample.sql\n", "apply_sample:\n  sample: sample.sql\n"],
    ids=["top_level", "section"],
)
def test_a_sample_wherever_apply_sample_reads_it_selects_it(
    write_tree: WriteTree, config: str
) -> None:
    root = write_tree({**SAMPLE_FAILS, "migration-guard.yaml": config})
    single = run_module("ci.apply_sample", cwd=root)
    assert single.returncode == 1, output(single)
    done = run_module("ci", "--checks", "numbering", cwd=root)  # an explicit list is kept
    assert "apply_sample" not in done.stdout.splitlines()[-1], output(done)
    done = run_module("ci", "--no-sqlfluff", cwd=root)
    assert done.returncode == 1, output(done)
    last = done.stdout.splitlines()[-1]
    assert last.startswith("FAILED ") and "apply_sample" in last, output(done)
