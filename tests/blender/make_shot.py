"""Write a small .blend ready for a headless EAMM job (sound strip, portrait, strength keys).

    .venv-bpy50/bin/python tests/blender/make_shot.py /tmp/shot/shot.blend [--fps 24] [--seconds 1.6]

Used by the headless test and by docs/blender.md (try the farm command on it). Uses the repo's
samples (``samples/speech.wav``, ``samples/astronaut.png``).
"""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SPEECH = REPO / "samples" / "speech.wav"
SAMPLE_PORTRAIT = REPO / "samples" / "astronaut.png"


def cut_speech(dst: Path, seconds: float, start: float = 0.5) -> Path:
    """``seconds`` of the sample speech from ``start`` (it speaks from 0.25 s) as a PCM WAV."""
    with wave.open(str(SAMPLE_SPEECH), "rb") as r:
        params = r.getparams()
        r.setpos(int(start * params.framerate))
        data = r.readframes(int(round(seconds * params.framerate)))
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(data)
    return dst


def make_shot(blend_path: Path, fps: int = 24, seconds: float = 1.6, audio_frame: int = 5):
    """A fresh scene: speech on channel 1 at ``audio_frame``, the portrait, a strength ramp; saved.

    Registers the add-on for the duration when it is not registered yet (tests register it themselves)."""
    import bpy

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import blender_addon

    blend_path = blend_path.resolve()
    blend_path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    registered = not hasattr(bpy.types.Scene, "eamm")
    if registered:
        blender_addon.register()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    wav = cut_speech(blend_path.parent / "speech.wav", seconds)
    editor = scene.sequence_editor_create()
    coll = editor.strips if hasattr(editor, "strips") else editor.sequences
    sound = coll.new_sound("speech", str(wav), 1, audio_frame)
    scene.frame_start, scene.frame_end = audio_frame, sound.frame_final_end - 1
    s = scene.eamm
    s.portrait_path = str(SAMPLE_PORTRAIT)
    s.audio_strip = sound.name
    s.emotion_source = "NONE"
    for frame, value in ((audio_frame, 0.5), (audio_frame + fps, 1.5)):
        s.strength = value
        s.keyframe_insert("strength", frame=frame)
    # the sound relative to the .blend, so the folder can move to a farm share
    sound.sound.filepath = bpy.path.relpath(str(wav), start=str(blend_path.parent))
    bpy.ops.wm.save_as_mainfile(filepath=str(blend_path))
    if registered:  # leave bpy as it was (the 4.5 module hangs at exit with classes registered)
        blender_addon.unregister()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("blend", type=Path)
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--seconds", type=float, default=1.6)
    args = p.parse_args()
    make_shot(args.blend, args.fps, args.seconds)
    print(f"wrote {args.blend}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
