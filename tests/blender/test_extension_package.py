"""The `make addon` zip passes Blender's own extension validator (the one behind Install from Disk)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
from conftest import REPO


def load_validator():
    path = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    spec = importlib.util.spec_from_file_location("eamm_test_blender_ext", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_zip_passes_blenders_validator(tmp_path):
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    (target,) = tmp_path.glob("*.zip")
    ext = load_validator()
    with zipfile.ZipFile(target) as zf:
        result = ext.pkg_manifest_from_zipfile_and_validate_all_errors(zf, "", True)
    assert not isinstance(result, list), result  # a list is the validator's error messages
    assert result.id == "eamm_talking_faces" and result.blender_version_min == "4.2.0"
    assert set(result.permissions) == {"network", "files"}


def test_validator_rejects_a_bad_manifest(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("blender_manifest.toml", (REPO / "blender_addon" / "blender_manifest.toml").read_text()
                    .replace('tagline = "', 'tagline = "Ends with a dot.'))
        zf.writestr("__init__.py", "")
    with zipfile.ZipFile(bad) as zf:
        result = load_validator().pkg_manifest_from_zipfile_and_validate_all_errors(zf, "", True)
    assert isinstance(result, list) and any("tagline" in e for e in result)
