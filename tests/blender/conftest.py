"""Fixtures for the add-on tests that run inside Blender's Python (the bpy module venvs).

Run with ``.venv-bpy45/bin/python -m pytest tests/blender`` (and .venv-bpy50); ``EAMM_MAIN_PYTHON`` is
the main venv's python, used to start a real eamm-server. Standard library + bpy + pytest only.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_PORTRAIT = REPO / "samples" / "astronaut.png"
SAMPLE_SPEECH = REPO / "samples" / "speech.wav"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import bpy

import blender_addon
from blender_addon import operators

sys.path.insert(0, str(Path(__file__).parent))
from real_server import RealServer


def write_wav(dst: Path, seconds: float, start: float = 0.5) -> Path:
    """``seconds`` of the sample speech (``samples/speech.wav``) as a PCM WAV."""
    from make_shot import cut_speech

    return cut_speech(dst, seconds, start)


def strip_collection(scene):
    editor = scene.sequence_editor or scene.sequence_editor_create()
    coll = getattr(editor, "strips", None)
    return coll if coll is not None else editor.sequences


def add_sound(scene, path: Path, frame: int, channel: int = 1, name: str = "speech"):
    return strip_collection(scene).new_sound(name, str(path), channel, frame)


def leftovers() -> list[str]:
    """Anything the add-on registered that is still there."""
    found = []
    if hasattr(bpy.types.Scene, "eamm"):
        found.append("Scene.eamm")
    for name in ("EAMM_Settings", "EAMM_Preferences", "EAMM_PT_sequencer", "EAMM_PT_view3d", "EAMM_OT_generate"):
        if hasattr(bpy.types, name):
            found.append(name)
    if bpy.app.timers.is_registered(operators.poll_jobs):
        found.append("timer poll_jobs")
    if _op_exists("eamm.generate"):
        found.append("operator eamm.generate")
    return found


def _op_exists(idname: str) -> bool:
    module, name = idname.split(".")
    try:
        getattr(getattr(bpy.ops, module), name).get_rna_type()
        return True
    except (KeyError, AttributeError):
        return False


@pytest.fixture
def scene():
    """A fresh factory scene with the add-on registered; unregistered (and checked clean) afterwards."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    try:
        yield bpy.context.scene
    finally:
        blender_addon.unregister()
        assert leftovers() == []


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="eamm-bl-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    python = os.environ.get("EAMM_MAIN_PYTHON")
    if not python:
        pytest.skip("EAMM_MAIN_PYTHON is not set: `make test-blender` sets it to the main venv's python")
    srv = RealServer(python)
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(srv.tmp, ignore_errors=True)


@pytest.fixture
def prefs(server, monkeypatch):
    """Point the add-on (not enabled in Preferences here, so its fallback) at the test server."""
    from blender_addon import preferences

    monkeypatch.setattr(preferences.FALLBACK, "server_url", server.url)
    monkeypatch.setenv("EAMM_TOKEN_FILE", str(server.token_file))
    return preferences.FALLBACK


def tick_until_idle(timeout: float = 300.0, pause: float = 0.05) -> list[float]:
    """What bpy.app.timers does in the UI (it never fires in the bpy module): call the add-on's timer
    callback until it asks to stop. Returns how long each call took."""
    import time

    ticks = []
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        again = operators.poll_jobs()
        ticks.append(time.monotonic() - started)
        if again is None:
            break
        assert time.monotonic() < deadline, "the add-on still had work in flight"
        time.sleep(pause)
    operators.stop_polling()
    return ticks
