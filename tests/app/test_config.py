"""ci.app.config: migration-guard.yaml keys are flags; the command line wins; unknown keys fail."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci import checksums, numbering
from ci.app import config
from tests.conftest import REPO, WriteTree, run_module

DIR = "db/migrations"
DUPLICATE = {
    f"{DIR}/schema/0001_a.sql": "CREATE TABLE a (x);\n",
    f"{DIR}/rollback/0001_rollback.sql": "DROP TABLE a;\n",
    f"{DIR}/schema/0001_b.sql": "CREATE TABLE b (x);\n",
}
CLEAN = {
    "clean/schema/0001_a.sql": "CREATE TABLE a (x);\n",
    "clean/rollback/0001_rollback.sql": "DROP TABLE a;\n",
}


@pytest.fixture
def repo(write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_tree({**DUPLICATE, **CLEAN})
    monkeypatch.chdir(root)
    return root


def write_config(root: Path, text: str) -> None:
    (root / "migration-guard.yaml").write_text(text, encoding="utf-8")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = numbering.main(list(args))
    except SystemExit as exit_:  # argparse and config errors stop in `parse`, as argparse does
        code = int(str(exit_.code))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_key_is_a_flag_with_dash_or_underscore(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys)
    assert code == 2, out  # no config: the default schema/migrations does not exist here
    for key in ("migrations_dir", "migrations-dir"):
        write_config(repo, f"{key}: {DIR}\n")
        code, out, err = run(capsys)
        assert code == 1, out + err
        assert f"{DIR}/schema/0001_" in out and "MG101" in out


def test_the_command_line_wins_over_the_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(repo, f"migrations_dir: {DIR}\nformat: json\n")
    code, out, err = run(capsys, "--migrations-dir", "clean", "--format", "text")
    assert (code, err) == (0, "")
    assert out.startswith("OK numbering")


def test_explicit_config_file_and_a_missing_one(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "ci.yaml").write_text(f"migrations-dir: {DIR}\n", encoding="utf-8")
    assert run(capsys, "--config", "ci.yaml")[0] == 1
    code, _, err = run(capsys, "--config", "absent.yaml")
    assert code == 2
    assert err.strip() == "python -m ci.numbering: absent.yaml: config file not found"


def test_unknown_keys_are_an_error_naming_them(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(repo, f"migrations_dir: {DIR}\nbase_rfe: origin/main\ncolour: auto\n")
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    assert "migration-guard.yaml: unknown keys base_rfe, colour" in err
    assert "Traceback" not in err


def test_keys_of_other_checks_are_known_and_sections_are_per_check(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `lock` is a checksums option: numbering accepts the file, checksums uses the section value
    write_config(
        repo,
        f"migrations_dir: {DIR}\nlock: top.lock\nsample: s.sql\nchecksums:\n  lock: section.lock\n",
    )
    assert run(capsys)[0] == 1
    code = checksums.main([])
    err = capsys.readouterr().err
    assert code == 2 and "section.lock: lock file not found" in err and "top.lock" not in err
    write_config(repo, f"migrations_dir: {DIR}\nnumbering:\n  lock: x.lock\n")
    code, _, err = run(capsys)
    assert code == 2 and "section numbering: unknown key(s) lock" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format: xml\n", "format: 'xml' is not one of text, github, json"),
        ("migrations_dir: [a, b]\n", "migrations_dir: expected one value, got a list"),
        # a mapping is not a section (sections are checks): it was dropped without a word
        ("base_ref:\n  ref: main\n", "base_ref: expected a single value, got a mapping"),
        ("migrations_dir: a\n  b: [\n", "migration-guard.yaml:2: invalid YAML"),
        ("- a\n- b\n", "expected a mapping of option: value, got list"),
        ("files: [a.sql]\n", "unknown key files"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    write_config(repo, text)
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1, err


def test_values_take_the_options_types() -> None:
    parser = argparse.ArgumentParser(prog="python -m ci.demo")
    parser.add_argument("--flag", action="store_true")
    parser.add_argument("--count", type=int)
    parser.add_argument("--names", nargs="*", type=Path)
    parser.add_argument("--tag", action="append")
    parser.add_argument("--ref")
    path = Path("migration-guard.yaml")
    values = config.parser_values(
        parser,
        "demo",
        {"flag": True, "count": "7", "names": ["a", "b"], "tag": "x", "ref": 123},
        path,
        sections=(),
        known_elsewhere=set,
    )
    assert values == {
        "flag": True,
        "count": 7,
        "names": [Path("a"), Path("b")],
        "tag": ["x"],
        "ref": "123",
    }
    for bad, message in (
        ({"flag": "yes"}, "flag: expected true or false"),
        ({"count": "many"}, "count: invalid value 'many'"),
    ):
        with pytest.raises(config.ConfigError, match=message):
            config.parser_values(parser, "demo", bad, path, sections=(), known_elsewhere=set)


def test_yaml_and_sqlfluff_are_not_imported_without_a_config(repo: Path) -> None:
    probe = (
        "import sys; from ci import numbering; "
        "code = numbering.main(['--migrations-dir', 'clean']);"
        "print(code, 'yaml' in sys.modules, 'sqlfluff' in sys.modules)"
    )
    done = run_module_code(repo, probe)
    assert done.splitlines()[-1] == "0 False False", done
    write_config(repo, "migrations_dir: clean\n")
    with_config = run_module_code(repo, probe.replace("'--migrations-dir', 'clean'", ""))
    assert with_config.splitlines()[-1] == "0 True False", with_config


def run_module_code(cwd: Path, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return done.stdout + done.stderr


def test_python_m_ci_rejects_unknown_keys(repo: Path) -> None:
    write_config(repo, "migrations_dir: clean\nchecks: [numbering]\nsurprise: 1\n")
    done = run_module("ci", cwd=repo)
    assert done.returncode == 2
    assert "unknown key surprise" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("yaml", "module", "flag"),
    [
        ("migrations_dir: clean\nupdate: true\n", "ci.checksums", "--update"),
        ("migrations_dir: clean\nchecksums:\n  rehash: x.sql\n", "ci.checksums", "--rehash"),
        (
            "migrations_dir: clean\n"
            "apply_empty:\n  schema_snapshot: s.sql\n  write_snapshot: true\n",
            "ci.apply_empty",
            "--write-snapshot",
        ),
    ],
)
def test_options_that_rewrite_committed_files_are_command_line_only(
    repo: Path, yaml: str, module: str, flag: str
) -> None:
    """`update: true` in the config CI reads would rewrite the lock on every run, silently."""
    write_config(repo, yaml)
    done = run_module(module, cwd=repo)
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "migration-guard.yaml" in said and flag in said and "Traceback" not in said
    assert not (repo / "migrations.lock").exists()
    assert not (repo / "s.sql").exists()
    # given on the command line it does what it says
    if flag == "--update":
        write_config(repo, "migrations_dir: clean\nupdate: false\n")
        assert run_module(module, "--update", cwd=repo).returncode == 0
        assert (repo / "migrations.lock").exists()
