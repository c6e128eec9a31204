"""Where the inputs come from: Image datablocks (also packed), sound strips, audio files, output folder."""

from __future__ import annotations

from pathlib import Path

import bpy
import pytest
from conftest import SAMPLE_PORTRAIT, add_sound, write_wav

from blender_addon import blend
from blender_addon.state import AddonError


def test_portrait_from_an_image_datablock_and_a_packed_one(scene, workdir):
    src = SAMPLE_PORTRAIT
    image = bpy.data.images.load(str(src))
    s = scene.eamm
    s.portrait_source = "IMAGE"
    with pytest.raises(AddonError, match="no portrait image chosen"):
        blend.portrait_file(scene, workdir)
    s.portrait_image = image
    assert blend.portrait_file(scene, workdir) == src
    image.pack()
    written = blend.portrait_file(scene, workdir / "out")
    assert written.parent == workdir / "out" and written.read_bytes() == src.read_bytes()
    generated = bpy.data.images.new("painted", 64, 64)
    s.portrait_image = generated
    with pytest.raises(AddonError, match="save it to disk first"):
        blend.portrait_file(scene, workdir)


def test_audio_strip_choice(scene, workdir):
    s = scene.eamm
    with pytest.raises(AddonError, match="no sound strip in the sequencer"):
        blend.audio_strip(scene, s)
    wav = write_wav(workdir / "a.wav", 0.5)
    first = add_sound(scene, wav, 1, 1, name="dialogue")
    assert blend.audio_strip(scene, s) == first  # the only one
    add_sound(scene, wav, 1, 2, name="music")
    with pytest.raises(AddonError, match="2 sound strips"):
        blend.audio_strip(scene, s)
    s.audio_strip = "music"
    assert blend.audio_strip(scene, s).name == "music"
    s.audio_strip = "gone"
    with pytest.raises(AddonError, match="no sound strip called 'gone'"):
        blend.audio_strip(scene, s)


def test_audio_file_adds_one_sound_strip_at_the_scene_start(scene, workdir):
    s = scene.eamm
    scene.frame_start = 12
    s.audio_source = "FILE"
    s.audio_path = str(workdir / "missing.wav")
    with pytest.raises(AddonError, match="does not exist"):
        blend.audio_strip(scene, s)
    s.audio_path = str(write_wav(workdir / "take.wav", 0.5))
    strip = blend.audio_strip(scene, s)
    assert (strip.type, strip.frame_final_start, strip.name) == ("SOUND", 12, "EAMM audio")
    assert blend.audio_strip(scene, s) == strip  # found again, not added twice
    assert len([x for x in blend.strips(scene) if x.type == "SOUND"]) == 1


def test_packed_sound_is_refused_with_a_fix(scene, workdir):
    strip = add_sound(scene, write_wav(workdir / "a.wav", 0.5), 1)
    strip.sound.pack()
    with pytest.raises(AddonError, match="Unpack Resources"):
        blend.sound_file(strip)


def test_output_folder_placeholders(scene, workdir):
    with pytest.raises(AddonError, match="not saved"):
        blend.output_dir(scene)
    bpy.ops.wm.save_as_mainfile(filepath=str(workdir / "my shot.blend"))
    scene = bpy.context.scene
    assert blend.output_dir(scene) == workdir / "eamm" / "my_shot"
    scene.eamm.output_dir = str(workdir / "x" / "{scene}")
    assert blend.output_dir(scene) == Path(workdir / "x" / scene.name)


def test_free_channel_skips_busy_ones(scene, workdir):
    wav = write_wav(workdir / "a.wav", 1.0)
    add_sound(scene, wav, 1, 1)
    add_sound(scene, wav, 1, 2, name="b")
    add_sound(scene, wav, 100, 3, name="c")  # channel 3 is free during frames 1-25
    assert blend.free_channel(scene, 1, 25, 2) == 3
    assert blend.free_channel(scene, 90, 110, 2) == 2  # the strips on 1 and 2 have ended by then
    assert blend.free_channel(scene, 90, 110, 3) == 4  # "c" occupies 3 from frame 100
