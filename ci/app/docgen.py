"""The generated documentation pages: one per lint rule, one per finding code, the config keys.

    python -m ci.app.docgen           rewrite the generated pages under docs/
    python -m ci.app.docgen --check   exit 1 naming every page that is out of date

Nothing here is written by hand twice: a rule's page is its module's docstring and its `CASES`;
a code's page is its entry in `ci.core.codes`; the table of config keys is read from every
command's `--help` (the options users see; a command that takes `--config` reads the file). The
test suite runs `--check`'s comparison in memory, so a stale page fails it.
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from ci.app.docgen_keys import COMMANDS, GENERATED, REGENERATE, REPO, config_page, help_text
from ci.core.codes import CODES, Code

# Where the lint engine keeps its rules: the first that imports wins (the engine is moving from
# ci.checks.lint_rules to ci.checks.lint.rules, which lists them with all_rules()).
RULE_REGISTRIES = ("ci.checks.lint.rules", "ci.checks.lint_rules")
CONFIG_PAGE = "docs/config.md"
# Hand-written pages may hold `<!-- codes: CHECK [CHECK] -->...<!-- /codes -->`: the codes those
# checks report, generated from the registry.
CODES_REGION = re.compile(r"<!-- codes: (?P<checks>[\w ]+) -->\n.*?<!-- /codes -->", re.DOTALL)


class LintCase(Protocol):
    name: str
    folder: str
    sql: str
    expect: str


class Rule(Protocol):
    code: str
    name: str
    rationale: str
    doc: str

    @property
    def cases(self) -> Sequence[LintCase]: ...

    @property
    def check(self) -> Callable[..., object]: ...


def lint_rules() -> tuple[Rule, ...]:
    """Every migration safety rule, from the lint engine's own registry."""
    for name in RULE_REGISTRIES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is not None and name.startswith(error.name):
                continue  # not there: the other place
            raise
        listed = getattr(module, "all_rules", None)
        return tuple(listed() if listed is not None else module.RULES)
    raise RuntimeError(f"no lint rule registry among {', '.join(RULE_REGISTRIES)}")


# --- lint rules: the docstring is the page -------------------------------------------------------


def docstring_markdown(doc: str) -> str:
    """A rule's docstring as Markdown: `Label::` plus an indented block becomes a SQL block."""
    lines = doc.strip("\n").splitlines()[1:]  # the first line is the page's title
    out: list[str] = []
    in_block = False
    for line in lines:
        if in_block and (line.startswith("    ") or not line.strip()):
            out.append(line[4:])
            continue
        if in_block:
            while out and not out[-1]:
                out.pop()
            out += ["```", ""]
            in_block = False
        if line.rstrip().endswith("::"):
            out += [_labelled(line.rstrip()[:-1]), "", "```sql"]
            in_block = True
            continue
        out.append(_labelled(line))
    while out and not out[-1]:
        out.pop()
    if in_block:
        out.append("```")
    text = "\n".join(out).strip("\n")
    return re.sub(r"```sql\n\n", "```sql\n", text)


def _labelled(line: str) -> str:
    """`Anti-pattern`, `Best practice` and `Silence` open their paragraphs in bold."""
    return re.sub(r"^(Anti-pattern|Best practice|Silence)\b", r"**\1**", line)


def rule_page(rule: Rule) -> str:
    summary = rule.doc.strip().splitlines()[0].partition(":")[2].strip()
    parts = [
        f"# {rule.code} {rule.name}",
        "",
        f"*{rule.rationale[:1].upper()}{rule.rationale[1:]}.*",
        "",
        f"Reports: {summary}",
        "",
        docstring_markdown(rule.doc),
        "",
        "## Cases",
        "",
        f"The rule's own test cases (`CASES` in its module), run by the test suite. Each is a file"
        f" in the folder named; `-- noqa: {rule.code} <reason>` silences the rule for a statement.",
    ]
    for expect, heading in (
        ("fail", "Reported"),
        ("pass", "Not reported"),
        ("silenced", "Silenced"),
    ):
        cases = [case for case in rule.cases if case.expect == expect]
        if cases:
            parts += ["", f"### {heading}"]
        for case in cases:
            parts += [
                "",
                f"{case.name} (`{case.folder}/`):",
                "",
                "```sql",
                case.sql.rstrip(),
                "```",
            ]
    source = rule.check.__module__.replace(".", "/") + ".py"
    parts += ["", f"Source: [`{source}`](../../{source})."]
    parts += ["", "See also: [all rules](README.md), [lint](../checks/lint.md)."]
    return _page(*parts)


RULES_INTRO = """\
# Lint safety rules

`python -m ci.lint` runs these rules next to sqlfluff ([lint](../checks/lint.md)). Each rule is
one module whose docstring is its page and whose cases are its tests. Silence one statement with
`-- noqa: CODE <reason>` in it or on the comment lines directly above it; a bare `-- noqa` does
not silence a safety rule."""

CODES_INTRO = """\
# Finding codes

Every finding a check reports carries one of these codes, with the file, the line where there is
one, what is wrong and "To fix:". A code never changes meaning. sqlfluff's own findings keep
sqlfluff's codes (`LT01`, `CP02`, `PRS`, ...)."""


def _page(*lines: str) -> str:
    return "\n".join([GENERATED, "", *lines]) + "\n"


def rules_index(rules: Iterable[Rule]) -> str:
    rows = [f"| [{r.code}]({r.code}.md) | {r.name} | {md(r.rationale)} |" for r in rules]
    return _page(RULES_INTRO, "", "| code | name | why |", "|---|---|---|", *rows)


# --- finding codes: the registry is the page -----------------------------------------------------


def md(text: str) -> str:
    """Registry text as Markdown shows it: `<reason>` is not a tag, `*.sql` not emphasis."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*").replace("|", "\\|")


def _checks_text(entry: Code) -> str:
    return ", ".join(f"`{check}`" for check in entry.checks)


def code_page(entry: Code) -> str:
    story = "../" + entry.story.removeprefix("docs/")
    return _page(
        f"# {entry.code}: {md(entry.title)}",
        "",
        "Reported by " + ", ".join(f"`python -m ci.{check}`" for check in entry.checks) + ".",
        "",
        f"**To fix:** {md(entry.hint)}.",
        "",
        "Each message of this code names the file (and the line, where there is one) and ends",
        'with a "To fix:" for that case, which is more precise than the general one above.',
        "",
        f"More: [{entry.checks[0]}]({story}), [all codes](README.md).",
    )


def codes_index(codes: Iterable[Code]) -> str:
    rows = [
        f"| [{e.code}](../{e.page.removeprefix('docs/')}) | {_checks_text(e)} | {md(e.title)} "
        f"| {md(e.hint)} |"
        for e in codes
    ]
    return _page(
        CODES_INTRO, "", "| code | reported by | what | to fix |", "|---|---|---|---|", *rows
    )


def codes_table(checks: Sequence[str]) -> str:
    """The codes any of `checks` reports, each with its page, title and usual fix."""
    rows = [
        f"| [{e.code}](../{e.page.removeprefix('docs/')}) | {md(e.title)} | {md(e.hint)} |"
        for e in CODES
        if set(checks) & set(e.checks)
    ]
    return "\n".join(["| code | finding | to fix |", "|---|---|---|", *rows])


def with_code_tables(text: str, page: str) -> str:
    """`text` with each codes region filled in (links relative to `page`, under docs/)."""
    depth = page.count("/") - 1  # docs/x.md: 0, docs/checks/x.md: 1

    def fill(match: re.Match[str]) -> str:
        table = codes_table(match["checks"].split())
        if depth == 0:
            table = table.replace("](../", "](")
        return f"<!-- codes: {match['checks']} -->\n{GENERATED}\n\n{table}\n<!-- /codes -->"

    return CODES_REGION.sub(fill, text)


# --- all pages ------------------------------------------------------------------------------------


def pages(repo: Path = REPO) -> dict[str, str]:
    """Every generated page, by path relative to the repository root."""
    rules = lint_rules()
    found = {f"docs/rules/{rule.code}.md": rule_page(rule) for rule in rules}
    found["docs/rules/README.md"] = rules_index(rules)
    found.update({entry.page: code_page(entry) for entry in CODES if not entry.is_rule})
    found["docs/codes/README.md"] = codes_index(CODES)
    helps = {module: help_text(module) for module in COMMANDS}
    current = (repo / CONFIG_PAGE).read_text(encoding="utf-8")
    found[CONFIG_PAGE] = config_page(current, helps)
    for path in sorted((repo / "docs").rglob("*.md")):
        page = str(path.relative_to(repo))
        text = found.get(page) or path.read_text(encoding="utf-8")
        if CODES_REGION.search(text):
            found[page] = with_code_tables(text, page)
    return found


def stale(repo: Path = REPO) -> list[str]:
    """The generated pages whose committed text differs from what the sources give."""
    wrong = []
    for path, text in pages(repo).items():
        target = repo / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            wrong.append(path)
    return wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which pages are stale")
    args = parser.parse_args(argv)
    if args.check:
        wrong = stale()
        for path in wrong:
            print(f"{path}: out of date; run {REGENERATE}")
        return 1 if wrong else 0
    for path, text in pages().items():
        target = REPO / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
