"""The "EAMM" sidebar tab in the Video Sequencer and the 3D Viewport."""

from __future__ import annotations

import bpy

from . import blend
from .jobs import ACTIVE_STATES
from .operators import SERVER, busy
from .state import AddonError


def _draw_inputs(layout, scene, s):
    box = layout.box()
    box.label(text="Inputs", icon="IMAGE_DATA")
    box.prop(s, "portrait_source", expand=True)
    box.prop(s, "portrait_path" if s.portrait_source == "FILE" else "portrait_image", text="")
    box.prop(s, "audio_source", expand=True)
    if s.audio_source == "FILE":
        box.prop(s, "audio_path", text="")
    elif scene.sequence_editor is not None:
        editor = scene.sequence_editor
        box.prop_search(s, "audio_strip", editor, "strips_all" if hasattr(editor, "strips_all") else "sequences_all",
                        text="", icon="SOUND")
    else:
        box.label(text="Add a sound strip in the Video Sequencer", icon="INFO")
    box.prop(s, "emotion_source", expand=True)
    if s.emotion_source == "PRESET":
        box.prop(s, "emotion_preset", text="")
        if "presets" in SERVER:  # known after Check server
            names = ", ".join(SERVER["presets"])
            box.label(text=f"on the server: {names}" if names else "no presets on the server: use a clip",
                      icon="INFO")
    elif s.emotion_source == "FILE":
        box.prop(s, "emotion_path", text="")


def _draw_curves(layout, s):
    box = layout.box()
    box.label(text="Curves (keyframe with I)", icon="GRAPH")
    box.prop(s, "strength", slider=True)
    box.prop(s, "use_pose")
    col = box.column(align=True)
    col.active = s.use_pose
    for name in ("yaw", "pitch", "roll", "scale", "offset_x", "offset_y"):
        col.prop(s, name)


def _draw_engine(layout, s):
    box = layout.box()
    box.label(text="Engine", icon="SETTINGS")
    box.prop(s, "engine", expand=True)
    if s.engine == "neural":
        box.prop(s, "model")
    box.prop(s, "landmarks")
    row = box.row()
    row.prop(s, "seed")
    row = box.row()
    row.prop(s, "blink")
    row.prop(s, "idle_motion")
    box.prop(s, "size")
    box.prop(s, "paste_back")
    box.prop(s, "output_dir")
    box.prop(s, "channel")


def _draw_status(layout, scene, s):
    box = layout.box()
    row = box.row()
    row.label(text=SERVER["line"], icon="CHECKMARK" if SERVER["ok"] else "ERROR")
    row.operator("eamm.check_server", text="", icon="FILE_REFRESH")
    if not SERVER["ok"] or s.message_kind == "not_running":
        box.operator("eamm.start_server", icon="PLAY")
    else:
        box.operator("eamm.stop_server", icon="PAUSE")
    if s.status:  # what is in flight: uploading portrait (3.2 MB)…, rendering 120/749, downloading frames…
        box.label(text=f"{s.job_id}: {s.status}" if s.job_id else s.status)
    if s.job_state in ACTIVE_STATES or busy(scene):  # one bar over upload → render → download
        if hasattr(box, "progress"):  # UILayout.progress: Blender 4.0+
            box.progress(factor=s.progress, text=f"{s.progress:.0%}")
        else:
            box.prop(s, "progress")
    if s.message:
        icon = "INFO" if s.message_kind == "INFO" else "ERROR"
        for i, chunk in enumerate(_wrap(s.message, 48)):
            box.label(text=chunk, icon=icon if i == 0 else "BLANK1")
    try:
        out = blend.output_dir(scene)
        box.label(text=str(out), icon="FILE_FOLDER")
    except AddonError as exc:
        box.label(text=str(exc), icon="ERROR")


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def draw_panel(layout, context):
    scene = context.scene
    s = scene.eamm
    _draw_inputs(layout, scene, s)
    _draw_curves(layout, s)
    _draw_engine(layout, s)
    row = layout.row(align=True)
    row.scale_y = 1.4
    row.operator("eamm.generate", icon="PLAY")
    row.operator("eamm.cancel", icon="CANCEL")
    row = layout.row(align=True)
    row.operator("eamm.import_strip", icon="SEQUENCE")
    row.operator("eamm.open_output", icon="FILE_FOLDER")
    _draw_status(layout, scene, s)


class _EammSidebar:
    """The same panel in every editor's sidebar (N) under an "EAMM" tab."""

    bl_label = "EAMM talking face"
    bl_region_type = "UI"
    bl_category = "EAMM"

    def draw(self, context):
        draw_panel(self.layout, context)


class EAMM_PT_sequencer(_EammSidebar, bpy.types.Panel):
    bl_idname = "EAMM_PT_sequencer"
    bl_space_type = "SEQUENCE_EDITOR"


class EAMM_PT_view3d(_EammSidebar, bpy.types.Panel):
    bl_idname = "EAMM_PT_view3d"
    bl_space_type = "VIEW_3D"


classes = (EAMM_PT_sequencer, EAMM_PT_view3d)
register, unregister = bpy.utils.register_classes_factory(classes)
