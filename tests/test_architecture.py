"""The package's wings and the direction of their imports (ARCHITECTURE.md), held by an AST walk.

Data flows source files -> loaders -> store -> analysis -> report -> notebook, and automation
drives the same path headless. A wing may import the core and the wings its rule names; no
module imports the CLI; no two modules import each other, directly or around a circle. Every
import counts, also one made inside a function: a late import is still a dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "review_kit"

CORE = frozenset({"model", "errors", "config", "paths", "human", "__init__"})
# wing -> the wings it may import (the core is always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "loaders": frozenset({"loaders"}),
    "store": frozenset({"loaders", "store"}),
    "analysis": frozenset({"analysis"}),
    "report": frozenset({"analysis", "report"}),
    "notebook": frozenset({"loaders", "store", "analysis", "report", "notebook"}),
    "automation": frozenset({"loaders", "store", "analysis", "report", "notebook", "automation"}),
    "demo": frozenset({"loaders", "store", "analysis", "report", "notebook", "automation", "demo"}),
    "cli": frozenset({"loaders", "store", "analysis", "report", "notebook", "automation", "demo"}),
}


def module_names(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages by __init__)."""
    names = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imported(module: str, is_package: bool, node: ast.AST, known: set[str]) -> list[str]:
    root = module.split(".")[0]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == root]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + (node.module.split(".") if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != root:
        return []
    # `from pkg import name` depends on pkg.name when that is a module, else on pkg itself.
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]


def import_edges(package: Path) -> set[tuple[str, str]]:
    """(importer, imported) for every import of one package module by another."""
    names = module_names(package)
    known = set(names)
    edges = set()
    for module, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported(module, path.name == "__init__.py", node, known):
                    # an import of pkg.sub.thing where thing is a name, not a module
                    while target not in known and "." in target:
                        target = target.rsplit(".", 1)[0]
                    if target != module:
                        edges.add((module, target))
    return edges


def wing(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in CORE:
        return "core"
    return parts[1]


def forbidden(edges: set[tuple[str, str]]) -> list[str]:
    problems = []
    for importer, imported in sorted(edges):
        if wing(imported) == "cli":
            problems.append(f"{importer} imports {imported}: nothing imports the CLI")
            continue
        source, target = wing(importer), wing(imported)
        if target == "core":
            continue
        if source not in ALLOWED:
            problems.append(f"{importer} is in no wing ({source}): add it to ARCHITECTURE.md and this test")
        elif target not in ALLOWED[source] and target != source:
            problems.append(f"{importer} imports {imported}: the {source} wing may not import {target}")
    return problems


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Groups of modules that import each other around a circle (Tarjan's strongly connected
    components of more than one module)."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_wing_and_imports_only_what_its_wing_may() -> None:
    edges = import_edges(PACKAGE)
    assert len(edges) > 100  # the walk found the package's imports
    assert forbidden(edges) == []


def test_no_import_circle() -> None:
    assert cycles(import_edges(PACKAGE)) == []


def test_the_wings_are_the_documented_ones() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders == {"loaders", "store", "analysis", "report", "notebook", "automation", "demo"}
    for folder in folders:
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"review_kit/{folder}/__init__.py says what it may import"
    documented = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    for folder in folders:
        assert f"`{folder}/`" in documented


# --- the checker itself finds what it must ---------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "review_kit"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in package.rglob("*.py")} | {package}:
        (folder / "__init__.py").touch()
    return package


@pytest.mark.parametrize("files, expected", [
    ({"analysis/metrics.py": "from ..store.database import Store\n", "store/database.py": ""},
     "the analysis wing may not import store"),
    ({"loaders/csv.py": "def f():\n    from review_kit.store import ingest\n", "store/ingest.py": ""},
     "the loaders wing may not import store"),
    ({"report/plots/t.py": "from ...notebook import widgets\n", "notebook/widgets.py": ""},
     "the report wing may not import notebook"),
    ({"store/pull.py": "from .. import cli\n", "cli.py": ""},
     "nothing imports the CLI"),
])
def test_a_forbidden_import_is_reported(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    problems = forbidden(import_edges(_tree(tmp_path, files)))
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_circle_is_reported_even_through_a_late_import(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "automation/queue.py": "from .outputs import rebuild\n",
        "automation/outputs.py": "def rebuild():\n    from .queue import list_runs\n",
        "analysis/a.py": "from .b import x\n", "analysis/b.py": "from .c import y\n",
        "analysis/c.py": "from . import a\n",
    })
    assert cycles(import_edges(package)) == [
        ["review_kit.analysis.a", "review_kit.analysis.b", "review_kit.analysis.c"],
        ["review_kit.automation.outputs", "review_kit.automation.queue"]]
