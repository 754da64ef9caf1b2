"""Every console script's usage, argument errors and help name the command the user typed
(`migration-guard numbering`, `migration-guard-numbering`), not the `python -m` form, which
the `python -m` commands keep (tests/data/help records those).

The scripts are the ones pip installed (pyproject's [project.scripts]), run as real processes
with this checkout first on PYTHONPATH, so they import this checkout's `ci`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci.__main__ import COMMANDS
from tests.app.test_metadata import scripts
from tests.conftest import REPO

BIN = Path(sys.executable).parent
HOOK_SCRIPTS = sorted(name for name in scripts() if name != "migration-guard")


def run_script(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = BIN / command[0]
    assert script.is_file(), f"pip install -e . installs the {command[0]} console script"
    return subprocess.run(
        [str(script), *command[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"},
    )


@pytest.mark.parametrize("command", list(COMMANDS))
def test_migration_guard_commands_name_themselves(command: str, tmp_path: Path) -> None:
    done = run_script("migration-guard", command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: migration-guard {command} ["), done.stdout
    assert "usage: python -m" not in done.stdout


@pytest.mark.parametrize("script", HOOK_SCRIPTS)
def test_hook_scripts_name_themselves(script: str, tmp_path: Path) -> None:
    done = run_script(script, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script} ["), done.stdout


def test_a_description_opens_with_the_command_typed(tmp_path: Path) -> None:
    """The face's docstring opens with `python -m ci.apply_empty`: the help says what was run."""
    done = run_script("migration-guard", "apply-empty", "--help", cwd=tmp_path)
    assert "\n`migration-guard apply-empty`: every migration" in done.stdout, done.stdout
    assert "python -m ci.apply_empty" not in done.stdout


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (("migration-guard", "numbering", "--bogus"), "migration-guard numbering"),
        (("migration-guard", "check", "--bogus"), "migration-guard check"),
        (("migration-guard", "migrate", "--bogus"), "migration-guard migrate"),
        (("migration-guard-numbering", "--bogus"), "migration-guard-numbering"),
    ],
)
def test_an_argument_error_points_at_the_help_of_the_command_typed(
    command: tuple[str, ...], named: str, tmp_path: Path
) -> None:
    done = run_script(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"{named}: error: unrecognized arguments: --bogus\n  (the options: {named} --help)\n"
    )


@pytest.mark.parametrize(
    "command", [("migration-guard", "numbering"), ("migration-guard-numbering",)]
)
def test_the_console_reads_its_own_config_section(command: tuple[str, ...], tmp_path: Path) -> None:
    """The config section is the command's (`numbering:`), whatever name its usage shows: a
    typo there is refused, never skipped because the section was looked up by another name."""
    (tmp_path / "migration-guard.yaml").write_text("numbering:\n  bogus: 1\n", encoding="utf-8")
    done = run_script(*command, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "section numbering: unknown key(s) bogus" in done.stderr, done.stderr


def test_a_refusal_of_migration_guard_check_names_it_and_the_console_fix(tmp_path: Path) -> None:
    done = run_script("migration-guard", "check", "--update", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "migration-guard check: refusing --update: migration-guard check only checks"
    ), done.stderr
    assert "run migration-guard checksums --update yourself" in done.stderr


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (("migration-guard", "check"), "migration-guard check"),
        (("migration-guard", "apply-empty"), "migration-guard apply-empty"),
    ],
)
def test_a_config_error_names_the_command_typed(
    command: tuple[str, ...], named: str, tmp_path: Path
) -> None:
    """A typo in the apply_empty section, found while `migration-guard check` runs that check:
    the line leads with the command the user typed, not with another command's name."""
    (tmp_path / "migration-guard.yaml").write_text("apply_empty:\n  explian: true\n", "utf-8")
    done = run_script(*command, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if "explian" in line]
    assert lines == [
        f"{named}: migration-guard.yaml: section apply_empty: unknown key(s) explian (keys are "
        "the checks' options, e.g. migrations_dir, base_ref)"
    ], done.stderr
