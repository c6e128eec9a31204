"""The hard import boundaries of DEVELOPERS.md, checked on the source (every import statement)."""

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


def test_checker_catches_a_violation(tmp_path):
    """The checker itself must flag a forbidden import (guards against a checker that sees nothing)."""
    pkg = tmp_path / "eamm_core"
    pkg.mkdir()
    (pkg / "bad.py").write_text("import os\nfrom bpy import types\nimportlib.import_module('fastapi.x')\n")
    found = [m for _, m in imported_modules(pkg / "bad.py")]
    assert found == ["os", "bpy", "fastapi"]
