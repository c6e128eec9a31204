"""The hard import boundaries (docs/architecture.md), checked on the source (every import statement).

Also: no import cycle inside ``eamm_core``, neither between modules nor between its top-level
subpackages/modules, counting imports inside functions (a function-local import hides a cycle, it
does not remove it). Imports under ``if TYPE_CHECKING:`` never run and are not counted.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ADDON_ALLOWED = {"bpy", "bpy_extras", "mathutils", "gpu", "bmesh", "addon_utils", "blf", "aud"}
FORBIDDEN = {
    "eamm_core": {"bpy", "bpy_extras", "mathutils", "fastapi", "starlette", "uvicorn", "PySide6", "server", "eamm_app"},
    "server": {"bpy", "bpy_extras", "mathutils", "PySide6", "eamm_app"},
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in {
            "import_module",
            "__import__",
        }:
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def violations(package: str, allowed: set[str] | None = None, forbidden: set[str] | None = None) -> list[str]:
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        for line, mod in imported_modules(path):
            if forbidden is not None and mod in forbidden:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {mod}")
            if allowed is not None and mod not in allowed and mod not in sys.stdlib_module_names:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {mod}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_forbidden_imports(package):
    assert (REPO / package).is_dir()
    assert violations(package, forbidden=FORBIDDEN[package]) == []


def test_addon_imports_only_bpy_and_stdlib():
    assert (REPO / "blender_addon").is_dir()
    assert violations("blender_addon", allowed=ADDON_ALLOWED) == []


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Absolute dotted names imported anywhere in ``tree`` (functions included), ``a.b.c`` for
    ``from a.b import c``, skipping ``if TYPE_CHECKING:`` blocks."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.Import):
                names.extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = module.split(".")[: len(module.split(".")) - child.level + (1 if is_package else 0)]
                    base = ".".join(parent + ([child.module] if child.module else []))
                names.extend(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return names


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a name resolves to its longest module prefix)."""
    files = {_module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for imported in _imported_names(tree, name, path.name == "__init__.py"):
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between top-level units (``eamm_core.prepare`` for every module under it)."""
    def unit(name: str) -> str:
        return ".".join(name.split(".")[:2])

    units: dict[str, set[str]] = {}
    for src, targets in graph.items():
        units.setdefault(unit(src), set()).update(unit(t) for t in targets if unit(t) != unit(src))
    return units


def test_no_import_cycles_between_core_modules():
    assert find_cycles(import_graph(REPO, "eamm_core")) == []


def test_no_import_cycles_between_core_subpackages():
    assert find_cycles(unit_graph(import_graph(REPO, "eamm_core"))) == []


def test_cycle_checker_sees_function_local_imports(tmp_path):
    """A cycle closed only by an import inside a function, between two subpackages, is found."""
    pkg = tmp_path / "eamm_core"
    for sub in ("a", "b"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from eamm_core.b.y import f\n")
    (pkg / "a" / "w.py").write_text("")
    (pkg / "b" / "y.py").write_text("def f():\n    from ..a import w\n    return w\n")
    (pkg / "b" / "z.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import eamm_core.a.x\n")
    graph = import_graph(tmp_path, "eamm_core")
    assert graph["eamm_core.b.y"] == {"eamm_core.a.w"} and graph["eamm_core.b.z"] == set()
    assert find_cycles(graph) == []  # between modules: x -> y -> w, no cycle
    assert find_cycles(unit_graph(graph)) == [["eamm_core.a", "eamm_core.b"]]
    (pkg / "a" / "w.py").write_text("def g():\n    import eamm_core.a.x\n")
    assert find_cycles(import_graph(tmp_path, "eamm_core")) == [["eamm_core.a.w", "eamm_core.a.x", "eamm_core.b.y"]]


def test_checker_catches_a_violation(tmp_path):
    """The checker itself must flag a forbidden import (guards against a checker that sees nothing)."""
    pkg = tmp_path / "eamm_core"
    pkg.mkdir()
    (pkg / "bad.py").write_text("import os\nfrom bpy import types\nimportlib.import_module('fastapi.x')\n")
    found = [m for _, m in imported_modules(pkg / "bad.py")]
    assert found == ["os", "bpy", "fastapi"]
