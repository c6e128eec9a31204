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


INSTALL = """
import sys, bpy, addon_utils
result = bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default",
                                                  enable_on_install=True)
mod = "bl_ext.user_default.eamm_talking_faces"
print("RESULT", result, mod in bpy.context.preferences.addons, hasattr(bpy.types.Scene, "eamm"))
prefs = bpy.context.preferences.addons[mod].preferences
print("PREFS", prefs.server_url)
# render.py of the installed extension uses the extension's preferences
import importlib, wave
with wave.open(sys.argv[2], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(bytes(16000))
editor = bpy.context.scene.sequence_editor_create()
(editor.strips if hasattr(editor, "strips") else editor.sequences).new_sound("speech", sys.argv[2], 1, 1)
prefs.server_url = "http://127.0.0.1:9"
bpy.context.scene.eamm.portrait_path = sys.argv[2]  # settings are checked before the network: any existing file
print("EXIT", importlib.import_module(mod + ".render").main(["render.py", "--no-save", "--out", "out"]))
addon_utils.disable(mod)
print("DISABLED", hasattr(bpy.types.Scene, "eamm"))
"""


def test_zip_installs_from_disk_and_enables(tmp_path):
    """What Install from Disk does, in a private user folder (BLENDER_USER_RESOURCES)."""
    import os

    subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    (target,) = tmp_path.glob("*.zip")
    user = tmp_path / "user"
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user)}
    out = subprocess.run([sys.executable, "-c", INSTALL, str(target), str(tmp_path / "a.wav")], capture_output=True,
                         text=True, env=env, timeout=300, cwd=str(tmp_path))
    assert "RESULT {'FINISHED'} True True" in out.stdout, out.stdout + out.stderr
    assert "PREFS http://127.0.0.1:8765" in out.stdout and "DISABLED False" in out.stdout
    assert "EAMM: error: eamm-server is not running at http://127.0.0.1:9:" in out.stdout and "EXIT 3" in out.stdout
    installed = user / "extensions" / "user_default" / "eamm_talking_faces"
    assert (installed / "blender_manifest.toml").is_file() and (installed / "render.py").is_file()
    helptext = subprocess.run([sys.executable, str(installed / "render.py"), "--help"], capture_output=True,
                              text=True, timeout=60)
    assert helptext.returncode == 0 and "--server" in helptext.stdout
