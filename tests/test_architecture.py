"""The house shows its layers: imports point only downward, no cycles, no oversized units.

Layers, lowest first: `ci.core` (errors, findings, model, SQL text), `ci.db` (the database seam),
`ci.checks` (each check's logic), `ci.reports` (formats), `ci.app` (options, config, run one / run
all, exit codes), the faces `ci.<command>` users run, and `hooks` (the pre-commit adapters). A
module may import its own layer and any layer below it, never one above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

LAYERS = {"ci.core": 0, "ci.db": 1, "ci.checks": 2, "ci.reports": 2, "ci.app": 3}
FACE = 4  # ci.<command> and ci.__main__
HOOKS = 5
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250

# What the architecture step has not reached yet. Each entry is a debt: the lists only shrink.
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CROSSING: set[tuple[str, str]] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()
KNOWN_LARGE_MODULES: set[str] = set()
KNOWN_LARGE_CLASSES: set[str] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources() -> Iterator[tuple[str, Path]]:
    for folder in ("ci", "hooks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            yield module_name(path), path


def layer(module: str) -> int | None:
    """The layer of a module of ours; None for ci/__init__ (name and version only)."""
    if module == "ci":
        return None
    if module.startswith("hooks"):
        return HOOKS
    for prefix, rank in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return FACE


def imported(module: str, path: Path) -> set[str]:
    """Every module of ours that `module` imports, at the top or inside a function."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    known = {name for name, _ in sources()}
    return {name for name in names if name in known and name != module}


def graph() -> dict[str, set[str]]:
    return {name: imported(name, path) for name, path in sources()}


def test_imports_point_only_downward() -> None:
    upward = {
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if (low := layer(target)) is not None and (high := layer(module)) is not None and low > high
    }
    assert upward - KNOWN_UPWARD == set(), "upward imports"
    assert KNOWN_UPWARD - upward == set(), "fixed: remove from KNOWN_UPWARD"


def cycles(edges: dict[str, set[str]]) -> set[frozenset[str]]:
    """The groups of modules that import each other, directly or around a loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.add(frozenset(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    # A package's __init__ may import its own modules; a cycle is between modules.
    edges = {
        m: {t for t in ts if not t.startswith(m + ".") and not m.startswith(t + ".")}
        for m, ts in graph().items()
    }
    found = cycles(edges)
    assert found - KNOWN_CYCLES == set(), "import cycles"
    assert KNOWN_CYCLES - found == set(), "fixed: remove from KNOWN_CYCLES"


def test_checks_never_import_each_other() -> None:
    faces = {name for name, _ in sources() if layer(name) == FACE and name != "ci.__main__"}
    crossing = {(m, t) for m in faces for t in graph()[m] if t in faces}
    assert crossing - KNOWN_CROSSING == set(), "a check imports another"
    assert KNOWN_CROSSING - crossing == set(), "fixed: remove from KNOWN_CROSSING"


def size(node: ast.ClassDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def test_no_oversized_module_or_class() -> None:
    large_modules, large_classes = set(), set()
    for name, path in sources():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            large_modules.add(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and size(node) > MAX_CLASS_LINES:
                large_classes.add(f"{name}.{node.name}")
    assert large_modules - KNOWN_LARGE_MODULES == set(), "modules over the limit"
    assert KNOWN_LARGE_MODULES - large_modules == set(), "fixed: remove from KNOWN_LARGE_MODULES"
    assert large_classes - KNOWN_LARGE_CLASSES == set(), "classes over the limit"
    assert KNOWN_LARGE_CLASSES - large_classes == set(), "fixed: remove from KNOWN_LARGE_CLASSES"
