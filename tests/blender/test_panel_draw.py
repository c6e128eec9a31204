"""The panel's draw code against a recording layout that checks every property and operator it names
(bpy as a module has no window, so no real UILayout): typos and wrong data paths fail here."""

from __future__ import annotations

import bpy
import pytest
from conftest import add_sound, write_wav

from blender_addon import operators, panels

ICONS = {i.identifier for i in bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items}


def check_icon(kw):
    assert kw.get("icon", "NONE") in ICONS, f"unknown icon {kw.get('icon')!r}"


class Recorder:
    def __init__(self, log):
        self.log = log
        self.active = True
        self.scale_y = 1.0

    def _check_prop(self, data, name):
        assert name in data.bl_rna.properties, f"{data!r} has no property {name!r}"

    def prop(self, data, name, **kw):
        check_icon(kw)
        self._check_prop(data, name)
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kw):
        check_icon(kw)
        self._check_prop(data, name)
        self._check_prop(search_data, search_name)
        self.log.append(("prop_search", search_name))

    def operator(self, idname, **kw):
        check_icon(kw)
        module, name = idname.split(".")
        getattr(getattr(bpy.ops, module), name).get_rna_type()  # KeyError when not registered
        self.log.append(("operator", idname))

    def label(self, text="", **kw):
        check_icon(kw)
        assert isinstance(text, str)
        self.log.append(("label", text))

    def progress(self, factor=0.0, text="", **kw):
        assert 0.0 <= factor <= 1.0
        self.log.append(("progress", text))

    def box(self, **kw):
        return Recorder(self.log)

    row = column = box

    def __getattr__(self, name):
        raise AssertionError(f"the panel calls layout.{name}, which the test layout does not know")


def draw(context) -> list:
    log = []
    panels.draw_panel(Recorder(log), context)
    return log


def labels(log) -> list[str]:
    return [text for kind, text in log if kind == "label"]


def test_panel_draws_inputs_curves_and_status(scene, workdir, monkeypatch):
    monkeypatch.setitem(operators.SERVER, "ok", False)  # not connected: the Start server button shows
    bpy.ops.wm.save_as_mainfile(filepath=str(workdir / "shot.blend"))
    add_sound(bpy.context.scene, write_wav(workdir / "a.wav", 1.0), frame=1)
    log = draw(bpy.context)
    names = [entry[1] for entry in log]
    for expected in ("strength", "yaw", "pitch", "roll", "scale", "offset_x", "offset_y", "engine", "seed",
                     "eamm.generate", "eamm.cancel", "eamm.import_strip", "eamm.open_output", "eamm.start_server"):
        assert expected in names, expected
    assert ("prop_search", "strips_all") in log or ("prop_search", "sequences_all") in log
    assert any(text.endswith("eamm/shot") for text in labels(log))  # the resolved output folder
    monkeypatch.setitem(operators.SERVER, "ok", True)
    monkeypatch.setitem(operators.SERVER, "presets", [])
    log = draw(bpy.context)
    assert ("operator", "eamm.stop_server") in log and ("operator", "eamm.start_server") not in log
    assert "no presets on the server: use a clip" in labels(log)


@pytest.mark.parametrize("portrait,audio,emotion,engine", [("IMAGE", "FILE", "FILE", "neural"),
                                                          ("FILE", "STRIP", "NONE", "landmark")])
def test_panel_draws_every_source_mode(scene, portrait, audio, emotion, engine):
    s = bpy.context.scene.eamm
    s.portrait_source, s.audio_source, s.emotion_source, s.engine = portrait, audio, emotion, engine
    names = [entry[1] for entry in draw(bpy.context)]
    assert ("portrait_image" if portrait == "IMAGE" else "portrait_path") in names
    assert ("model" in names) == (engine == "neural")
    assert ("emotion_path" in names) == (emotion == "FILE")


def test_panel_shows_progress_and_messages(scene, monkeypatch):
    s = bpy.context.scene.eamm
    s.job_id, s.job_state, s.status, s.progress = "j_1", "running", "running · render 5/10 (50%)", 0.5
    s.message, s.message_kind = "eamm-server is not running at http://127.0.0.1:9: start it with the Start " \
                                "server button or `eamm-server`", "not_running"
    monkeypatch.setitem(operators.SERVER, "ok", True)
    log = draw(bpy.context)
    assert ("progress", "50%") in log
    assert ("operator", "eamm.start_server") in log  # a not-running message offers the button
    text = " ".join(labels(log))
    assert "j_1: running · render 5/10 (50%)" in text and "Start server button" in text
    assert "the .blend is not saved" in text  # unsaved file: the output folder says why it has no place


@pytest.mark.parametrize("has_payload", [False, True])
def test_preferences_offer_the_bundled_server_only_when_the_zip_has_one(scene, monkeypatch, tmp_path, has_payload):
    from blender_addon import bundled, preferences

    monkeypatch.setattr(bundled, "info", lambda: {"id": "0.1.0-x"} if has_payload else None)
    monkeypatch.setattr(preferences, "setup_dir", lambda: tmp_path)

    class Prefs:
        bl_rna = preferences.EAMM_Preferences.bl_rna
        use_bundled = True

    log = []
    prefs = Prefs()
    prefs.layout = Recorder(log)
    preferences.EAMM_Preferences.draw(prefs, bpy.context)
    props = [name for kind, name in log if kind == "prop"]
    assert ("use_bundled" in props) is has_payload
    assert {"server_url", "token", "server_command", "server_python", "auto_start"} <= set(props)
    assert ("landmark · cpu · unpacked at the first Generate" in labels(log)) is has_payload
    assert preferences.bundled_in_use(prefs) is has_payload
