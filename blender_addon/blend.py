"""bpy access that differs between Blender versions: strips, F-curves, paths (4.2 … 5.0)."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from . import timing
from .properties import CURVE_PROPS
from .state import AddonError

STRIP_NAME = "EAMM"
AUDIO_STRIP_NAME = "EAMM audio"


# -- sequencer ------------------------------------------------------------------------------------
def strips(scene, all_levels: bool = False):
    """The sequencer's top-level strips (``strips`` in 4.4+/5.0, ``sequences`` before)."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    if all_levels:
        coll = getattr(editor, "strips_all", None)
        return coll if coll is not None else editor.sequences_all
    coll = getattr(editor, "strips", None)
    return coll if coll is not None else editor.sequences


def _new_collection(scene):
    editor = scene.sequence_editor or scene.sequence_editor_create()
    coll = getattr(editor, "strips", None)
    return coll if coll is not None else editor.sequences


def find_audio_strip(scene, settings):
    """The sound strip named in the settings (or the only one), or an AddonError saying what to do."""
    sounds = [s for s in strips(scene, all_levels=True) if s.type == "SOUND"]
    if settings.audio_strip:
        for s in sounds:
            if s.name == settings.audio_strip:
                return s
        raise AddonError(f"there is no sound strip called '{settings.audio_strip}' in scene '{scene.name}': "
                         "pick one in the EAMM panel")
    if len(sounds) == 1:
        return sounds[0]
    if not sounds:
        raise AddonError("no sound strip in the sequencer: add the speech with Add ▸ Sound, or choose an audio file")
    raise AddonError(f"{len(sounds)} sound strips in the sequencer: pick the speech strip in the EAMM panel")


def ensure_file_audio_strip(scene, settings):
    """For audio from a file: the sound strip that plays it (added at the scene start if missing)."""
    path = abspath(settings.audio_path)
    if not settings.audio_path or not Path(path).is_file():
        raise AddonError(f"audio file {settings.audio_path or '(none)'} does not exist: choose a WAV/MP3/FLAC file")
    for s in strips(scene, all_levels=True):
        if s.type == "SOUND" and s.sound and Path(abspath(s.sound.filepath)) == Path(path):
            return s
    channel = free_channel(scene, scene.frame_start, scene.frame_start + 1, 1)
    try:
        return _new_collection(scene).new_sound(AUDIO_STRIP_NAME, path, channel, scene.frame_start)
    except RuntimeError as exc:
        raise AddonError(f"Blender cannot open the audio file {Path(path).name} ({exc}): use a WAV, FLAC or MP3 "
                         "file") from None


def audio_strip(scene, settings):
    return ensure_file_audio_strip(scene, settings) if settings.audio_source == "FILE" else find_audio_strip(scene, settings)


def sound_file(strip) -> Path:
    sound = strip.sound
    if sound is None or not sound.filepath:
        raise AddonError(f"sound strip '{strip.name}' has no sound file: re-add the audio")
    if sound.packed_file is not None:
        raise AddonError(f"the sound of strip '{strip.name}' is packed in the .blend: unpack it "
                         "(File ▸ External Data ▸ Unpack Resources) so it can be sent to eamm-server")
    path = Path(abspath(sound.filepath))
    if not path.is_file():
        raise AddonError(f"the sound file of strip '{strip.name}' is missing ({path}): relink or re-add it")
    return path


def placement(scene, strip) -> timing.AudioPlacement:
    """The strip's place on the timeline; refuses retimed strips (their frame mapping is not linear)."""
    if len(getattr(strip, "retiming_keys", ())) > 0:
        raise AddonError(f"sound strip '{strip.name}' is retimed: reset its retiming (Strip ▸ Retiming ▸ Reset) — "
                         "EAMM follows the speech at its natural speed")
    fps = timing.scene_fps(scene.render.fps, scene.render.fps_base)
    return timing.AudioPlacement.make(strip.frame_start, getattr(strip, "sound_offset", 0.0),
                                      strip.frame_final_start, strip.frame_final_end, fps)


def free_channel(scene, start: int, end: int, lowest: int) -> int:
    """The lowest channel >= ``lowest`` with nothing overlapping [start, end)."""
    busy = set()
    for s in strips(scene):
        if s.frame_final_start < end and s.frame_final_end > start:
            busy.add(s.channel)
    channel = max(1, lowest)
    while channel in busy:
        channel += 1
    if channel > 128:
        raise AddonError("no free sequencer channel for the image strip: free one or set a target channel")
    return channel


def import_image_strip(scene, frames_dir: Path, mapping: list[int], start: int, channel: int, name=STRIP_NAME):
    """An image strip whose element i is ``frame_<mapping[i]>.png`` (one element per scene frame).

    Repeating or skipping 25 fps frames per scene frame (nearest in time) keeps every scene frame in sync
    with the audio at any scene rate, with no speed effect or retiming that differs between versions.
    """
    if not mapping:
        raise AddonError("nothing to import: the audio strip has no visible frames")
    coll = _new_collection(scene)
    for old in [s for s in coll if s.name == name]:
        coll.remove(old)
    directory = frames_dir.as_posix().rstrip("/") + "/"
    files = [f"frame_{k:06d}.png" for k in mapping]
    # pixel size kept (a 1024 px face stays 1024 px, centred); the strip's Transform places and scales it
    strip = coll.new_image(name, directory + files[0], channel, start, fit_method="ORIGINAL")
    for filename in files[1:]:
        strip.elements.append(filename)
    if bpy.data.filepath:
        try:
            strip.directory = bpy.path.relpath(directory)
        except ValueError:  # another drive on Windows: keep the absolute path
            pass
    return strip


# -- curves ---------------------------------------------------------------------------------------
def find_fcurve(id_data, data_path: str, index: int = 0):
    """The F-curve animating ``data_path`` on ``id_data`` (layered actions 4.4+/5.0, legacy before)."""
    anim = getattr(id_data, "animation_data", None)
    action = getattr(anim, "action", None) if anim is not None else None
    if action is None:
        return None
    slot = getattr(anim, "action_slot", None)
    if slot is not None:
        try:
            from bpy_extras import anim_utils
            bag = anim_utils.action_get_channelbag_for_slot(action, slot)
        except (ImportError, AttributeError):
            bag = None
        if bag is not None:
            return bag.fcurves.find(data_path, index=index)
    fcurves = getattr(action, "fcurves", None)
    return fcurves.find(data_path, index=index) if fcurves is not None else None


def has_driver(id_data, data_path: str) -> bool:
    anim = getattr(id_data, "animation_data", None)
    return anim is not None and anim.drivers.find(data_path) is not None


def sample_settings(scene, frames: tuple[float, ...]) -> dict[str, list[float]]:
    """Every keyframeable setting at the given scene frames (F-curve, driver, or the constant value)."""
    settings = scene.eamm
    out = {}
    driven = []
    for prop, lo, hi in CURVE_PROPS:
        path = f"eamm.{prop}"
        fcurve = find_fcurve(scene, path)
        if has_driver(scene, path):
            driven.append((prop, lo, hi))
        elif fcurve is not None:
            out[prop] = timing.sample(fcurve.evaluate, frames, lo, hi)
        else:
            out[prop] = [float(getattr(settings, prop))] * len(frames)
    if driven:
        out.update(_sample_by_frame_set(scene, frames, driven))
    return out


def _sample_by_frame_set(scene, frames, props):
    """Slow path for driven properties: step the scene to each (sub)frame and read the values."""
    keep = scene.frame_current, scene.frame_subframe
    out = {p: [] for p, _, _ in props}
    try:
        for f in frames:
            whole = int(f // 1)
            scene.frame_set(whole, subframe=f - whole)
            for prop, lo, hi in props:
                out[prop].append(min(hi, max(lo, float(getattr(scene.eamm, prop)))))
    finally:
        scene.frame_set(keep[0], subframe=keep[1])
    return out


# -- paths ----------------------------------------------------------------------------------------
def abspath(path: str) -> str:
    return bpy.path.abspath(path) if path else path


def output_dir(scene) -> Path:
    """The resolved output folder ({blend}/{scene} filled in); refuses '//' paths in an unsaved file."""
    raw = scene.eamm.output_dir or "//eamm/{blend}/"
    blend = Path(bpy.data.filepath).stem if bpy.data.filepath else "untitled"
    raw = raw.replace("{blend}", bpy.path.clean_name(blend)).replace("{scene}", bpy.path.clean_name(scene.name))
    if raw.startswith("//") and not bpy.data.filepath:
        raise AddonError("the .blend is not saved, so the output folder '//…' has no place: save the file "
                         "or set an absolute output folder")
    return Path(bpy.path.abspath(raw))


def portrait_file(scene, out_dir: Path) -> Path:
    """The portrait on disk (a packed or generated Image datablock is written to the output folder)."""
    s = scene.eamm
    if s.portrait_source == "IMAGE":
        image = s.portrait_image
        if image is None:
            raise AddonError("no portrait image chosen: pick an Image in the EAMM panel, or use a file")
        if image.packed_file is not None:
            ext = (image.file_format or "PNG").lower().replace("jpeg", "jpg")
            path = out_dir / f"portrait_{bpy.path.clean_name(image.name)}.{ext}"
            out_dir.mkdir(parents=True, exist_ok=True)
            data = image.packed_file.data
            if not path.is_file() or path.read_bytes() != data:  # farm chunks may read it meanwhile:
                tmp = path.with_name(f".{path.name}.{os.getpid()}.part")  # replace it whole, never rewrite
                tmp.write_bytes(data)
                os.replace(tmp, path)
            return path
        if image.source != "FILE" or not image.filepath:
            raise AddonError(f"image '{image.name}' is not an image file: save it to disk first (Image ▸ Save As)")
        path = Path(abspath(image.filepath))
    else:
        if not s.portrait_path:
            raise AddonError("no portrait chosen: pick a photo or painting with one face in the EAMM panel")
        path = Path(abspath(s.portrait_path))
    if not path.is_file():
        raise AddonError(f"portrait file {path} does not exist: check the path")
    return path
