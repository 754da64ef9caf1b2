"""ci.lint and hooks.lint: every rule's cases, sqlfluff in-process, bad input, reports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema

from ci import lint
from ci.checks.lint import file_context, run_rules
from ci.checks.lint.rules import RULES, all_rules
from ci.checks.lint.rules.base import DEFAULT_MIN_SQLITE, LintCase, Rule
from tests.conftest import JUNIT_XSD, MIGRATIONS, REPO, WriteTree, git, run_module


def _codes(root: Path, case: LintCase, sql: str) -> list[str]:
    path = root / MIGRATIONS / case.folder / "0001_case.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql, encoding="utf-8")
    return [f.code for f in run_rules(file_context(path, case.folder, case.min_sqlite))]


@pytest.mark.parametrize(
    ("rule", "case"),
    [(rule, case) for rule in RULES for case in rule.cases],
    ids=[f"{rule.code}-{case.expect}-{case.name}" for rule in RULES for case in rule.cases],
)
def test_rule_case(rule: Rule, case: LintCase, tmp_path: Path) -> None:
    codes = _codes(tmp_path, case, case.sql)
    if case.expect == "fail":
        assert rule.code in codes
    else:
        assert rule.code not in codes
    if case.expect == "silenced":
        unsilenced = re.sub(r"noqa", "note", case.sql)
        assert rule.code in _codes(tmp_path, case, unsilenced), "the noqa comment must matter"


@pytest.mark.parametrize("rule", RULES, ids=[rule.code for rule in RULES])
def test_rule_is_documented_and_has_every_kind_of_case(rule: Rule) -> None:
    assert re.fullmatch(r"MG5\d\d", rule.code)
    assert rule.doc.startswith(f"{rule.code} {rule.name}:")
    for part in ("Anti-pattern", "Best practice", f"-- noqa: {rule.code}"):
        assert part in rule.doc
    assert "\n" not in rule.rationale
    assert {"fail", "pass", "silenced"} <= {case.expect for case in rule.cases}
    page = (REPO / "docs" / "rules" / f"{rule.code}.md").read_text(encoding="utf-8")
    assert f"\n# {rule.code} {rule.name}\n" in page  # generated from the docstring


@pytest.mark.parametrize("comment", ["-- noqa: MG503 gone", "-- NOQA: mg503 gone", "-- note"])
def test_noqa_in_any_case_silences_and_a_file_without_one_is_not_silenced(
    tmp_path: Path, comment: str
) -> None:
    case = LintCase("drop", "schema", "", "fail")
    codes = _codes(tmp_path, case, f"CREATE TABLE a (id INTEGER);\nDROP TABLE b; {comment}\n")
    assert ("MG503" in codes) == (comment == "-- note")


@pytest.mark.parametrize(
    ("sql", "silenced"),
    [
        # at the end of the line where each of them ends: all three (one was, before)
        ("DROP TABLE a; DROP TABLE b; DROP TABLE c; -- noqa: MG503 retiring\n", True),
        # on the comment line directly above the line they are on: both
        ("-- noqa: MG503 retiring\nDROP TABLE a; DROP TABLE b;\n", True),
        # not the rest of the previous statement's line
        ("DROP TABLE a; -- noqa: MG503 retiring\nDROP TABLE b;\n", False),
        # a statement that starts on the line and ends on the next: still "above" it
        ("-- noqa: MG503 retiring\nDROP TABLE a; DROP\n TABLE b;\n", True),
        # the words in a string are no comment: neither "above" nor at the line's end
        ("INSERT INTO a VALUES ('x\n-- noqa: MG503\n'); DROP TABLE b;\n", False),
        ("DROP TABLE b; INSERT INTO a VALUES ('-- noqa: MG503');\n", False),
    ],
)
def test_noqa_reaches_every_statement_of_its_line(tmp_path: Path, sql: str, silenced: bool) -> None:
    case = LintCase("drop", "schema", "", "fail")
    codes = _codes(tmp_path, case, "CREATE TABLE a (id INTEGER);\n" + sql)
    assert ("MG503" not in codes) == silenced, codes


def test_rule_codes_are_unique() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))


def test_every_rule_module_is_listed_in_code_order() -> None:
    folder = REPO / "ci" / "checks" / "lint" / "rules"
    modules = sorted(path.stem for path in folder.glob("mg5*.py"))
    assert [rule.code for rule in all_rules()] == [name[:5].upper() for name in modules]


def _tree(write_tree: WriteTree, files: dict[str, str | bytes]) -> Path:
    return write_tree({f"{MIGRATIONS}/{name}": content for name, content in files.items()})


GOOD = "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT NOT NULL);\n"


def test_clean_directory_passes(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(write_tree, {"schema/0001_init.sql": GOOD, "rollback/0001_rollback.sql": ""})
    (root / MIGRATIONS / "rollback/0001_rollback.sql").write_text("DROP TABLE patients;\n")
    monkeypatch.chdir(root)
    assert lint.main([]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "OK lint: 2 passed"


def test_sqlfluff_findings_have_code_and_line(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(write_tree, {"schema/0001_init.sql": GOOD + "create index i on patients (mrn);\n"})
    monkeypatch.chdir(root)
    assert lint.main([]) == 1
    out = capsys.readouterr().out
    assert f"{MIGRATIONS}/schema/0001_init.sql:2: CP01 sqlfluff: Keywords must be" in out


def test_unparsable_statement_hides_nothing(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE b (id INTEGER PRIMARY KEY) WITH SPARKLES;\n"
        "CREATE TABLE c (id INTEGER PRIMARY KEY);\n"
        "create table d (id INTEGER);\n"
        "DELETE FROM a;\n"
    )
    root = _tree(write_tree, {"schema/0001_init.sql": sql})
    monkeypatch.chdir(root)
    assert lint.main([]) == 1
    lines = capsys.readouterr().out.splitlines()
    found = [re.match(r".*?:(\d+): (\S+)", line) for line in lines]
    located = {(int(m[1]), m[2]) for m in found if m}
    assert (2, "PRS") in located
    assert (4, "CP01") in located  # sqlfluff still lints after the bad statement
    assert {(5, "MG501"), (5, "MG502")} <= located
    assert "cannot parse this statement and SQLite rejects it too" in "\n".join(lines)


def test_noqa_silences_sqlfluff_and_parse_errors(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE INDEX idx_patients_mrn_and_a_name_long_enough_for_lt05"
        " ON patients (mrn, id); -- noqa: LT05\n"
        "BEGIN IMMEDIATE; -- noqa: PRS, MG508 kept for the sqlite3 shell\n"
        "CREATE INDEX j ON patients (id);\n"
    )
    root = _tree(write_tree, {"schema/0002_idx.sql": sql})
    monkeypatch.chdir(root)
    assert lint.main([]) == 0, capsys.readouterr().out


@pytest.mark.parametrize(
    ("config_file", "content", "expected"),
    [
        (None, "", 1),
        (".sqlfluff", "[sqlfluff]\nexclude_rules = CP01\n", 0),
        ("pyproject.toml", '[tool.sqlfluff.core]\nwarnings = "CP01"\n', 0),
    ],
    ids=["defaults", "dot-sqlfluff", "pyproject"],
)
def test_project_sqlfluff_config_is_honoured(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config_file: str | None,
    content: str,
    expected: int,
) -> None:
    root = _tree(write_tree, {"schema/0001_init.sql": "create TABLE t (id INTEGER);\n"})
    if config_file:
        (root / config_file).write_text(content)
    monkeypatch.chdir(root)
    assert lint.main([]) == expected
    out = capsys.readouterr().out
    if config_file is None:
        assert "0001_init.sql:1: CP01 sqlfluff: Keywords must be consistently" in out
    elif config_file == "pyproject.toml":
        assert "0001_init.sql:1: CP01 warning: sqlfluff:" in out
    else:
        assert "CP01" not in out


def test_bad_sqlfluff_config_is_exit_2(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(write_tree, {"schema/0001_init.sql": GOOD})
    (root / ".sqlfluff").write_text("[sqlfluff]\ndialect = nosuchdialect\n")
    monkeypatch.chdir(root)
    assert lint.main([]) == 2
    err = capsys.readouterr().err
    assert err == "lint: sqlfluff configuration for .: unknown dialect 'nosuchdialect'\n"


def test_large_file_is_skipped_by_sqlfluff_with_a_warning(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(write_tree, {"schema/0001_init.sql": "create table t (id integer);\n" * 5})
    (root / ".sqlfluff").write_text("[sqlfluff]\nlarge_file_skip_byte_limit = 50\n")
    monkeypatch.chdir(root)
    assert lint.main([]) == 0
    out = capsys.readouterr().out
    assert "MG500 warning: larger than sqlfluff's large_file_skip_byte_limit (50 bytes)" in out


@pytest.mark.parametrize("where", ["flag", "config"])
def test_a_file_above_sqlfluff_max_bytes_gets_the_safety_rules_and_a_warning(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    where: str,
) -> None:
    sql = "delete FROM patients;\n"  # MG502 (no WHERE) and sqlfluff's CP01 (case)
    root = _tree(write_tree, {"data/0002_all.sql": sql})
    monkeypatch.chdir(root)
    junit = tmp_path / "junit.xml"
    args = ["--junit", str(junit)]
    if where == "flag":
        args += ["--sqlfluff-max-bytes", str(len(sql) - 1)]
    else:
        Path("migration-guard.yaml").write_text(f"sqlfluff_max_bytes: {len(sql) - 1}\n")
    assert lint.main(args) == 1
    out = capsys.readouterr().out
    assert "0002_all.sql:1: MG502" in out and "CP01" not in out
    warning = (
        f"{MIGRATIONS}/data/0002_all.sql: MG500 warning: 22 bytes, more than "
        "--sqlfluff-max-bytes (21): sqlfluff skipped this file, the safety rules (MG5xx) ran"
    )
    assert warning in out
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    assert warning in junit.read_text(encoding="utf-8")  # the case's system-out
    for limit in ("22", "0"):  # at the limit, and no limit: sqlfluff runs
        assert lint.main(["--sqlfluff-max-bytes", limit]) == 1
        out = capsys.readouterr().out
        assert "0002_all.sql:1: CP01" in out and "sqlfluff-max-bytes" not in out


def test_sqlfluff_max_bytes_must_be_a_byte_count(write_tree: WriteTree) -> None:
    root = _tree(write_tree, {"schema/0001_init.sql": GOOD})
    done = run_module("ci.lint", "--sqlfluff-max-bytes", "1MB", cwd=root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--sqlfluff-max-bytes: expected a number of bytes, got '1MB'" in done.stderr


BAD_INPUT = {
    "0002_not_utf8.sql": (b"SELECT 1;\n\xff\xfe;\n", ":2: MG500 not valid UTF-8 (byte 0xff)"),
    "0003_binary.sql": (b"\x00\x01binary", ": MG500 binary file (contains NUL bytes), not SQL"),
    "0004_empty.sql": (b"", ": MG500 warning: empty file: it runs as a no-op migration"),
    "0006_directive.sql": (b"-- @frobnicate\nSELECT 1;\n", ":1: MG500 unknown directive @frob"),
}


def test_bad_input_is_one_line_each_and_exit_1(write_tree: WriteTree) -> None:
    files: dict[str, str | bytes] = {f"data/{name}": data for name, (data, _) in BAD_INPUT.items()}
    root = _tree(write_tree, {**files, "schema/0001_init.sql": GOOD})
    (root / MIGRATIONS / "data/0007_dir.sql").mkdir()
    done = run_module("ci.lint", cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name, (_, message) in BAD_INPUT.items():
        bad = [line for line in lines if name in line]
        assert len(bad) == 1, lines
        assert bad[0].startswith(f"{MIGRATIONS}/data/{name}{message}")
    assert [line for line in lines if "0007_dir.sql" in line] == [
        f"{MIGRATIONS}/data/0007_dir.sql: MG500 is a directory, not a SQL file."
    ]
    assert lines[-1] == "FAILED lint: 2 passed, 4 failed, 1 warning"


def test_missing_directory_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert lint.main(["--migrations-dir", "nowhere"]) == 2
    assert capsys.readouterr().err.startswith("lint: nowhere: migrations directory not found")


def test_min_sqlite_version_flag(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(write_tree, {"rollback/0002_rollback.sql": "ALTER TABLE t DROP COLUMN adt;\n"})
    monkeypatch.chdir(root)
    assert lint.main([]) == 0
    assert lint.main(["--min-sqlite-version", "3.34.1"]) == 1
    assert "MG510 DROP COLUMN needs SQLite 3.35.0; the minimum configured is 3.34.1" in (
        capsys.readouterr().out
    )
    for bad in ("latest", "3.4"):  # 3.4: what YAML makes of an unquoted 3.40
        with pytest.raises(SystemExit) as exit_info:
            lint.main(["--min-sqlite-version", bad])
        assert exit_info.value.code == 2


def test_files_lints_only_those_files(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(
        write_tree,
        {"schema/0001_init.sql": GOOD, "data/0002_all.sql": "DELETE FROM patients;\n"},
    )
    monkeypatch.chdir(root)
    assert lint.main([f"{MIGRATIONS}/schema/0001_init.sql", "README.md"]) == 0
    assert "0002_all" not in capsys.readouterr().out
    assert lint.main([f"{MIGRATIONS}/data/0002_all.sql"]) == 1
    assert "0002_all.sql:1: MG502" in capsys.readouterr().out


def test_hook_returns_at_once_without_migrations(write_tree: WriteTree) -> None:
    root = _tree(write_tree, {"data/0002_all.sql": "DELETE FROM patients;\n"})
    (root / "app.py").write_text("print()\n")
    probe = (
        "import sys; from hooks.lint import main; rc = main(sys.argv[1:]); "
        "print(rc, 'sqlfluff' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "app.py"], cwd=root, capture_output=True, text=True
    )
    assert done.stdout == "0 False\n", done.stderr
    done = run_module("hooks.lint", f"{MIGRATIONS}/data/0002_all.sql", cwd=root)
    assert done.returncode == 1
    assert f"{MIGRATIONS}/data/0002_all.sql:1: MG502" in done.stdout


def test_junit_report_has_file_and_line(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = _tree(
        write_tree,
        {"schema/0001_init.sql": GOOD, "data/0002_all.sql": "SELECT 1;\nDELETE FROM patients;\n"},
    )
    monkeypatch.chdir(root)
    junit = tmp_path / "junit.xml"
    assert lint.main(["--junit", str(junit)]) == 1
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    text = junit.read_text(encoding="utf-8")
    assert re.search(r'<testcase[^>]*file="schema/migrations/data/0002_all.sql"[^>]*line="2"', text)
    assert 'name="schema/migrations/schema/0001_init.sql"' in text


def test_exclude_rules_turns_off_safety_and_sqlfluff_rules(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(write_tree, {"data/0002_all.sql": "delete FROM patients;\n"})
    monkeypatch.chdir(root)
    assert lint.main([]) == 1
    out = capsys.readouterr().out
    assert "0002_all.sql:1: MG502" in out and "0002_all.sql:1: CP01" in out
    assert lint.main(["--exclude-rules", "MG502", "--exclude-rules", "cp01"]) == 0
    assert lint.main(["--exclude-rules", "MG502"]) == 1
    assert "MG502" not in capsys.readouterr().out


def test_skipping_an_unparsable_statement_keeps_line_lengths(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = "CREATE TABLE a (id INTEGER); BEGIN IMMEDIATE; CREATE TABLE b (id INTEGER);"
    assert 72 < len(line) <= 80  # a longer placeholder would make it an LT05 finding
    root = _tree(write_tree, {"schema/0001_init.sql": line + "\n"})
    monkeypatch.chdir(root)
    assert lint.main(["--exclude-rules", "MG508"]) == 0  # SQLite accepts it: a warning
    out = capsys.readouterr().out
    assert (
        "0001_init.sql:1: PRS warning: sqlfluff (dialect sqlite) cannot parse this statement; "
        "SQLite accepts it: BEGIN" in out
    )
    assert "LT05" not in out and "LT01" not in out


def test_long_comment_lines_are_not_lt05(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    progress = (
        "-- @progress SELECT COUNT(*) FROM vitals WHERE unit IS NULL" + " " * 40 + "AND 1 = 1"
    )
    sql = (
        f"-- @batch 100\n{progress}\nUPDATE vitals SET unit = 'mmHg'\n"
        "WHERE rowid IN (SELECT rowid FROM vitals WHERE unit IS NULL LIMIT :batch_size);\n"
    )
    root = _tree(write_tree, {"data/0002_unit.sql": sql})
    monkeypatch.chdir(root)
    assert lint.main([]) == 0, capsys.readouterr().out
    strict = tmp_path / "strict"  # a new directory: sqlfluff caches config files per process
    (strict / MIGRATIONS / "data").mkdir(parents=True)
    (strict / MIGRATIONS / "data/0002_unit.sql").write_text(sql)
    (strict / ".sqlfluff").write_text(
        "[sqlfluff:rules:layout.long_lines]\nignore_comment_lines = False\n"
    )
    monkeypatch.chdir(strict)
    assert lint.main([]) == 1
    out = capsys.readouterr().out
    assert "0002_unit.sql:2: LT05" in out
    # the fix named runs as written: sqlfluff's own command needs the dialect without a config
    assert f"`sqlfluff fix --dialect sqlite {MIGRATIONS}/data/0002_unit.sql`" in out, out


def test_worked_example_passes_lint() -> None:
    done = run_module("ci.lint", cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK lint: ") and " failed" not in done.stdout
    assert done.stderr == ""  # a clean run of every file needs no word about --base-ref


# --- what CI lints: the files changed since the merge base -------------------------------------

OLD_STYLE = "create TABLE legacy (id INTEGER);\n"  # CP01 in every file of an old history


def _history(git_repo: Path, write_tree: WriteTree) -> Path:
    """main: 0001 in an old style (findings); feature: adds a clean 0002; main then moves on
    with a 0003 in the old style, which feature does not have."""
    write_tree({f"{MIGRATIONS}/schema/0001_legacy.sql": OLD_STYLE})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "history")
    git(git_repo, "checkout", "-q", "-b", "feature")
    git(git_repo, "checkout", "-q", "main")
    write_tree({f"{MIGRATIONS}/schema/0003_main.sql": OLD_STYLE})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "main moves on")
    git(git_repo, "checkout", "-q", "feature")
    write_tree({f"{MIGRATIONS}/schema/0002_new.sql": GOOD})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "feature")
    return git_repo


@pytest.mark.parametrize("module", ["ci", "ci.lint"])
def test_with_a_base_ref_only_changed_files_are_linted_and_all_lints_every_file(
    git_repo: Path, write_tree: WriteTree, module: str
) -> None:
    root = _history(git_repo, write_tree)
    fork = git(root, "merge-base", "HEAD", "main").strip()[:7]
    checks = ["--checks", "lint"] if module == "ci" else []
    done = run_module(module, *checks, "--base-ref", "main", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0001_legacy" not in done.stdout and "0003_main" not in done.stdout
    assert (
        f"lint: 1 file changed since merge base {fork} of HEAD and main; --all for every file"
        in done.stderr
    )
    done = run_module(module, *checks, "--base-ref", "main", "--all", cwd=root)
    assert done.returncode == 1
    assert f"{MIGRATIONS}/schema/0001_legacy.sql:1: CP01" in done.stdout
    assert "0003_main" not in done.stdout  # not on this branch at all
    assert "changed since merge base" not in done.stderr


def test_an_edited_or_uncommitted_file_counts_as_changed(
    git_repo: Path, write_tree: WriteTree
) -> None:
    root = _history(git_repo, write_tree)
    (root / "migration-guard.yaml").write_text("base_ref: main\n")  # the config key works too
    write_tree({f"{MIGRATIONS}/data/0004_wip.sql": "DELETE FROM patients;\n"})  # not added
    legacy = root / MIGRATIONS / "schema/0001_legacy.sql"
    legacy.write_text(OLD_STYLE + "-- edited on this branch\n")
    done = run_module("ci", "--checks", "lint", cwd=root)
    assert done.returncode == 1
    assert f"{MIGRATIONS}/data/0004_wip.sql:1: MG502" in done.stdout
    assert f"{MIGRATIONS}/schema/0001_legacy.sql:1: CP01" in done.stdout
    assert "lint: 3 files changed since merge base" in done.stderr


def test_no_change_since_the_merge_base_is_one_passing_case(
    git_repo: Path, write_tree: WriteTree
) -> None:
    root = _history(git_repo, write_tree)
    git(root, "checkout", "-q", "-b", "docs-only", "main")
    done = run_module("ci.lint", "--base-ref", "main", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lint: 0 files changed since merge base" in done.stderr
    assert done.stdout.strip() == "OK lint: 1 passed"


def test_explicit_files_are_linted_whatever_the_base_ref(
    git_repo: Path, write_tree: WriteTree
) -> None:
    root = _history(git_repo, write_tree)
    legacy = f"{MIGRATIONS}/schema/0001_legacy.sql"
    for module, checks in (("ci.lint", []), ("ci", ["--checks", "lint"])):
        done = run_module(module, *checks, "--base-ref", "main", legacy, cwd=root)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{legacy}:1: CP01" in done.stdout
        assert "changed since" not in done.stderr


def test_without_a_base_ref_every_file_is_linted_and_the_output_says_how_to_narrow_it(
    git_repo: Path, write_tree: WriteTree
) -> None:
    root = _history(git_repo, write_tree)
    done = run_module("ci", "--checks", "lint", cwd=root)
    assert done.returncode == 1
    assert f"{MIGRATIONS}/schema/0001_legacy.sql:1: CP01" in done.stdout
    assert (
        "lint: every file (2): no --base-ref; with one, only the files changed since its "
        "merge base with HEAD" in done.stderr
    )


# --- sqlfluff's rules when the project has no sqlfluff configuration --------------------------

NOT_CORE = "CREATE VIEW v AS SELECT a, b FROM t;\n"  # LT09: not in sqlfluff's core rule set


@pytest.mark.parametrize(
    ("config_file", "content", "expected"),
    [
        (None, "", 0),
        (".sqlfluff", "[sqlfluff]\nrules = all\n", 1),
        ("setup.cfg", "[sqlfluff]\nrules = all\n", 1),
        ("tox.ini", "[sqlfluff]\nrules = all\n", 1),
        ("pyproject.toml", '[tool.sqlfluff.core]\nrules = "all"\n', 1),
    ],
    ids=["none-core", "dot-sqlfluff", "setup-cfg", "tox-ini", "pyproject"],
)
def test_a_repository_without_sqlfluff_config_gets_the_core_rules(
    write_tree: WriteTree, config_file: str | None, content: str, expected: int
) -> None:
    root = _tree(write_tree, {"schema/0001_view.sql": NOT_CORE})
    if config_file:
        (root / config_file).write_text(content)
    done = run_module("ci.lint", cwd=root)
    assert done.returncode == expected, done.stdout + done.stderr
    assert ("LT09" in done.stdout) == bool(expected)


# --- statements sqlfluff cannot parse: SQLite decides ------------------------------------------


def test_a_statement_sqlite_accepts_is_a_warning_naming_the_sqlfluff_limitation(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE TABLE f (x);\n"  # a column without a type
        "CREATE TABLE groups (id INTEGER PRIMARY KEY);\n"  # a keyword SQLite takes as a name
        "CREATE INDEX g ON groups (id);\n"
    )
    root = _tree(write_tree, {"schema/0001_init.sql": sql})
    monkeypatch.chdir(root)
    assert lint.main([]) == 0
    out = capsys.readouterr().out
    warning = (
        f"{MIGRATIONS}/schema/0001_init.sql:1: PRS warning: sqlfluff (dialect sqlite) cannot "
        "parse this statement; SQLite accepts it: CREATE TABLE f (x). To fix: none needed"
    )
    assert warning in out
    assert f"{MIGRATIONS}/schema/0001_init.sql:2: PRS warning: sqlfluff" in out
    assert f"{MIGRATIONS}/schema/0001_init.sql:3: PRS warning: sqlfluff" in out
    assert out.strip().endswith("OK lint: 1 passed, 3 warnings")


@pytest.mark.parametrize(
    ("statement", "sqlite_says"),
    [
        ("CREATE TABLE b (id INTEGER PRIMARY KEY) WITH SPARKLES;", 'near "SPARKLES": syntax error'),
        # the table does not exist here: SQLite must still read the trigger's body
        ("CREATE TRIGGER tr AFTER INSERT ON missing BEGIN SELEC 1; END;", 'near "SELEC"'),
        ("INSERT INTO missing SELECT * FROM other WHERE (;", "incomplete input"),
    ],
    ids=["syntax", "trigger-body", "incomplete"],
)
def test_a_statement_sqlite_rejects_too_stays_an_error(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    statement: str,
    sqlite_says: str,
) -> None:
    root = _tree(write_tree, {"data/0002_bad.sql": statement + "\n"})
    monkeypatch.chdir(root)
    assert lint.main(["--exclude-rules", "MG501"]) == 1
    out = capsys.readouterr().out
    found = [line for line in out.splitlines() if ": PRS " in line]
    assert len(found) == 1, out
    assert found[0].startswith(f"{MIGRATIONS}/data/0002_bad.sql:1: PRS sqlfluff (dialect sqlite)")
    assert "SQLite rejects it too" in found[0] and sqlite_says in found[0]


# --- messages ----------------------------------------------------------------------------------


def _repeated_words(text: str, size: int = 4) -> set[str]:
    """Runs of `size` words that occur twice in `text`: advice given twice."""
    words = text.split()
    runs = [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]
    return {run for run in runs if runs.count(run) > 1}


@pytest.mark.parametrize(
    ("rule", "case"),
    [(rule, case) for rule in RULES for case in rule.cases if case.expect != "pass"],
    ids=[
        f"{rule.code}-{case.name}" for rule in RULES for case in rule.cases if case.expect != "pass"
    ],
)
def test_no_message_repeats_its_own_advice(rule: Rule, case: LintCase, tmp_path: Path) -> None:
    from ci.reports import text_line

    path = tmp_path / MIGRATIONS / case.folder / "0001_case.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(re.sub(r"noqa", "note", case.sql), encoding="utf-8")
    findings = run_rules(file_context(path, case.folder, case.min_sqlite))
    lines = [text_line(f) for f in findings if f.code == rule.code]
    assert lines
    for line in lines:
        assert line.count("noqa") == 1, line
        assert not _repeated_words(line), line


def test_rebuild_findings_name_the_table_the_rebuild_produces(tmp_path: Path) -> None:
    sql = (
        "PRAGMA foreign_keys = OFF;\n"
        "ALTER TABLE ciphers RENAME TO old_ciphers;\n"
        "CREATE TABLE ciphers (uuid TEXT PRIMARY KEY, name TEXT NOT NULL);\n"
        "INSERT INTO ciphers (uuid, name) SELECT uuid, name FROM old_ciphers;\n"
        "DROP TABLE old_ciphers;\n"
    )
    path = tmp_path / MIGRATIONS / "schema" / "0003_rebuild.sql"
    path.parent.mkdir(parents=True)
    path.write_text(sql, encoding="utf-8")
    findings = run_rules(file_context(path, "schema", DEFAULT_MIN_SQLITE))
    assert [(f.code, f.line) for f in findings] == [("MG507", 5)]
    assert findings[0].message.startswith("table rebuild of ciphers without PRAGMA")
    assert "old_ciphers" not in findings[0].message


def test_a_directive_hidden_by_an_invisible_character_is_a_finding(write_tree: WriteTree) -> None:
    """Pasted from a rendered comment: without the check the line is a comment, and a migration
    meant to be irreversible silently is not."""
    hidden = "-- @\u200birreversible data gone\nSELECT 1;\n".encode()
    root = _tree(write_tree, {"schema/0001_init.sql": GOOD, "data/0002_x.sql": hidden})
    done = run_module("ci.lint", cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{MIGRATIONS}/data/0002_x.sql:1: MG500 directive line has an invisible character" in (
        done.stdout
    )
