"""blender_manifest.toml against Blender's extension rules, and the `make addon` zip layout."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ADDON = REPO / "blender_addon"
# The add-on tags Blender accepts (extensions platform list for type "add-on").
ADDON_TAGS = {"3D View", "Add Curve", "Add Mesh", "Animation", "Bake", "Camera", "Compositing", "Development",
              "Game Engine", "Geometry Nodes", "Grease Pencil", "Import-Export", "Lighting", "Material",
              "Modeling", "Mesh", "Node", "Object", "Paint", "Pipeline", "Physics", "Render", "Rigging", "Scene",
              "Sculpt", "Sequencer", "System", "Text Editor", "Tracking", "User Interface", "UV"}
PERMISSIONS = {"files", "network", "clipboard", "camera", "microphone"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return tomllib.loads((ADDON / "blender_manifest.toml").read_text(encoding="utf-8"))


def short_reason_problem(text: str, limit: int) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "empty"
    if len(text) > limit:
        return f"longer than {limit} characters"
    if text[-1] in ".!?,;:":
        return "ends with punctuation"
    if text != text.strip() or any(ord(c) < 32 for c in text):
        return "surrounding space or control characters"
    return None


def test_required_fields(manifest):
    assert manifest["schema_version"] == "1.0.0"
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9]", manifest["id"])
    assert manifest["id"].isidentifier() and not manifest["id"].startswith("_")
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["type"] == "add-on"
    assert manifest["name"].strip() and manifest["maintainer"].strip()
    assert manifest["blender_version_min"] == "4.2.0"
    # the bundled server is built for Python 3.11: Blender 5.1 (Python 3.13) is excluded (max is exclusive)
    assert manifest["blender_version_max"] == "5.1.0"


def test_tagline_rules(manifest):
    assert short_reason_problem(manifest["tagline"], 64) is None


def test_license_is_spdx_and_shipped(manifest):
    assert manifest["license"] and all(re.fullmatch(r"SPDX:[A-Za-z0-9.\-+]+", lic) for lic in manifest["license"])
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]  # what Blender's extension platform asks
    assert "GNU GENERAL PUBLIC LICENSE" in (ADDON / "LICENSE").read_text(encoding="utf-8")
    assert manifest["copyright"]


def test_permissions_have_short_reasons(manifest):
    perms = manifest["permissions"]
    assert {"network", "files"} <= set(perms) <= PERMISSIONS
    for name, reason in perms.items():
        assert short_reason_problem(reason, 64) is None, f"permission {name}: {reason!r}"


def test_tags_are_known(manifest):
    assert set(manifest.get("tags", [])) <= ADDON_TAGS


def test_rule_checker_catches_bad_values():
    assert short_reason_problem("Ends with a dot.", 64) == "ends with punctuation"
    assert short_reason_problem("x" * 65, 64) == "longer than 64 characters"
    assert short_reason_problem("", 64) == "empty"


def test_init_only_registers():
    tree = ast.parse((ADDON / "__init__.py").read_text(encoding="utf-8"))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"register", "unregister"} <= functions
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]


def test_build_addon_zip_layout(tmp_path, manifest):
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    target = tmp_path / f"{manifest['id']}-{manifest['version']}.zip"
    assert str(target) in out.stdout
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        assert tomllib.loads(zf.read("blender_manifest.toml").decode()) == manifest  # manifest at the zip root
    sources = {p.name for p in ADDON.glob("*.py")}
    assert sources <= names and {"__init__.py", "render.py", "LICENSE"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/" in n]
