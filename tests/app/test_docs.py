"""The documentation users read: the README as a door, docs/ as the house, generated pages current.

Generated pages (one per lint rule, one per finding code, the config keys) must equal what
`python -m ci.app.docgen` makes from the sources now; every code the checks report is in the
codes registry; links and cited tests exist; nothing cites a document users do not have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.__main__ import COMMANDS
from ci.app import docgen, docgen_keys
from ci.core.codes import BY_CODE, CHECK_PAGES, CODES, Code
from tests.conftest import REPO

# The README's two commands, exactly as users copy them; .ci/run runs the second.
RUN_THE_EXAMPLE = (
    "python -m pip install -e '.[postgresql]' && python -m ci --config schema/migration-guard.yaml "
    "--junit migration-guard-junit.xml && python -m ci.migrate --db monitor.db && "
    "python -m ci.migrate --db monitor.db --status && "
    'MIGRATION_GUARD_SERVER_URL="${MIGRATION_GUARD_SERVER_URL:-postgresql://postgres@127.0.0.1:'
    '5432/postgres}" python -m ci --config examples/postgresql/migration-guard.yaml '
    "--if-server-reachable"
)
RUN_THE_TESTS = "python -m pip install -e '.[test]' && python -m pytest"
CODE = re.compile(r"\bMG\d{3}\b")


def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def documents() -> Iterator[Path]:
    """Every Markdown page users read."""
    yield REPO / "README.md"
    yield REPO / "bench" / "RESULTS.md"
    yield from sorted((REPO / "docs").rglob("*.md"))


def test_generated_pages_are_current() -> None:
    stale = docgen.stale()
    assert stale == [], f"out of date: {', '.join(stale)}; run {docgen.REGENERATE} and commit"


def test_the_generator_finds_every_rule_and_writes_a_page_for_every_code() -> None:
    pages = docgen.pages()
    rules = docgen.lint_rules()
    assert [rule.code for rule in rules] == [f"MG{n}" for n in range(501, 512)]
    for entry in CODES:
        assert entry.page in pages, entry.code
        assert pages[entry.page].splitlines()[2].startswith(f"# {entry.code}")


def test_a_docstring_becomes_markdown_with_sql_blocks() -> None:
    doc = (
        "MG999 example: what it reports.\n\nWhy it matters.\n\nAnti-pattern::\n\n"
        "    DROP TABLE t;\n\nBest practice: keep it::\n\n    SELECT 1;\n\n"
        "Silence: `-- noqa: MG999`.\n"
    )
    assert docgen.docstring_markdown(doc) == (
        "Why it matters.\n\n**Anti-pattern**:\n\n```sql\nDROP TABLE t;\n```\n\n"
        "**Best practice**: keep it:\n\n```sql\nSELECT 1;\n```\n\n**Silence**: `-- noqa: MG999`."
    )


def test_config_keys_come_from_the_options_of_commands_that_read_the_config() -> None:
    helps = {module: "" for module in docgen.COMMANDS}
    helps["ci.numbering"] = (
        "usage: x\n\noptions:\n  -h, --help            show this help message and exit\n"
        "  --config CONFIG       config file\n  --base-ref REF        git ref of the target\n"
        "                        branch\n  --update              rewrite the lock\n"
    )
    helps["ci.precheck"] = "usage: y\n\noptions:\n  --db DB               the database\n"
    table = docgen_keys.config_keys(helps)
    assert "| `base_ref` | `--base-ref REF` | numbering: git ref of the target branch |" in table
    assert "| `update` | `--update` | rewrites the lock file |" in table  # refused in the file
    assert "`db`" not in table and "`config`" not in table and "`help`" not in table


def test_a_flag_that_takes_a_value_in_one_command_only_shows_both_forms() -> None:
    helps = {module: "" for module in docgen.COMMANDS}
    with_config = "usage: x\n\noptions:\n  --config CONFIG       config file\n"
    helps["ci.checksums"] = with_config + "  --rehash FILE         rewrite one entry\n"
    helps["ci.migrate"] = with_config + "  --rehash              rewrite the recorded ones\n"
    table = docgen_keys.config_keys(helps)
    assert "| `rehash` | `--rehash FILE` (checksums)<br>`--rehash` (migrate) |" in table


def used_codes() -> dict[str, set[str]]:
    """Every MGxxx written in ci/ and hooks/ (the registry itself aside), with where."""
    found: dict[str, set[str]] = {}
    for folder in ("ci", "hooks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == REPO / "ci" / "core" / "codes.py":
                continue
            for code in CODE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(code, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_code_the_checks_use_is_in_the_registry_and_back() -> None:
    used = used_codes()
    assert sorted(set(used) - set(BY_CODE)) == [], "codes missing from ci/core/codes.py"
    assert sorted(set(BY_CODE) - set(used)) == [], "registered codes no check reports"
    assert len(BY_CODE) == len(CODES), "a code registered twice"


def test_a_rule_is_registered_with_its_own_rationale() -> None:
    rules = {rule.code: rule for rule in docgen.lint_rules()}
    assert {entry.code for entry in CODES if entry.is_rule} == set(rules)
    for code, rule in rules.items():
        assert BY_CODE[code].title == rule.rationale, code


@pytest.mark.parametrize("code", CODES, ids=[entry.code for entry in CODES])
def test_every_code_has_a_title_a_hint_and_pages_that_exist(code: Code) -> None:
    assert code.title and code.hint and not code.hint.endswith(".")
    assert set(code.checks) <= set(CHECK_PAGES)
    assert (REPO / code.page).is_file(), code.page
    assert (REPO / code.story).is_file(), code.story


def test_the_readme_is_a_door() -> None:
    text = readme()
    assert text.count("\n") < 300, "the README stays under 300 lines; details go to docs/"
    blocks = re.findall(r"```sh\n(.*?)\n```", text, re.DOTALL)
    assert RUN_THE_EXAMPLE in blocks and RUN_THE_TESTS in blocks
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert RUN_THE_TESTS in run.splitlines()
    assert 'python -m pytest -m "not slow"' in text
    for page in ("docs/design.md", "docs/hooks.md", "docs/config.md", "bench/RESULTS.md"):
        assert f"]({page}" in text, page
    assert "#### MG5" not in text, "a rule is documented once, by its docstring (docs/rules/)"


def test_the_readme_names_every_command_and_what_to_keep_out_of_git() -> None:
    text = " ".join(readme().split())  # a list wraps where it likes
    listed = re.search(r"runs as `migration-guard <command>` \((.*?)\)", text)
    assert listed, "the README lists the migration-guard commands"
    assert re.findall(r"`([\w-]+)`", listed[1]) == list(COMMANDS)
    assert "`migration-guard --version`" in text
    gitignore = text[: text.index("to `.gitignore`")].rsplit("Keep what the commands write", 1)[1]
    for written in ("*.db", "--junit", "--sarif", "--codequality", "--pr-comment"):
        assert written in gitignore, written


def test_benchmark_results_live_in_bench_results_only() -> None:
    """A dated run or a PASS/FAIL verdict is a result: bench/RESULTS.md keeps them. (Dates with a
    time, `2026-11-25T10:36:03Z`, are sample output, not results.)"""
    result = re.compile(r"\b20\d\d-\d\d-\d\d\b(?!T)|\| (PASS|FAIL) \|")
    for path in documents():
        if path != REPO / "bench" / "RESULTS.md":
            assert not result.search(path.read_text(encoding="utf-8")), path


def test_nothing_cites_a_document_users_do_not_have() -> None:
    citation = re.compile(r"\bSPEC\b|§|\bSTYLE\b|STYLE habit")
    places = [*documents()]
    for folder in ("ci", "hooks", "bench"):
        places += sorted((REPO / folder).rglob("*.py"))
    cited = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in places
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if citation.search(line)
    ]
    assert cited == []


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.*)", line)):
            found.add(slug(match[1]))
    return found


def test_links_between_pages_resolve() -> None:
    broken = []
    for path in documents():
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


def test_the_tests_the_docs_cite_exist() -> None:
    missing = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        for file, name in re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", text):
            source = REPO / file
            if not source.is_file():
                missing.append(f"{path.relative_to(REPO)}: {file}")
            elif name and f"def {name}(" not in source.read_text(encoding="utf-8"):
                missing.append(f"{path.relative_to(REPO)}: {file}::{name}")
    assert missing == []
