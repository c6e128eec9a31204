"""Generate against a real eamm-server (landmark engine), poll by calling the timer callback, import
the strip and check it stays in sync with the sound strip at 24, 25 and 30 fps; save and reload."""

from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path

import bpy
import pytest
from conftest import SAMPLE_PORTRAIT, add_sound, write_wav

from blender_addon import blend, jobs, operators, timing
from blender_addon.state import JobRecord

AUDIO_FRAME = 7


def make_scene(scene, workdir: Path, fps: int, seconds: float = 1.2):
    bpy.ops.wm.save_as_mainfile(filepath=str(workdir / "shot.blend"))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    sound = add_sound(scene, write_wav(workdir / "speech.wav", seconds), frame=AUDIO_FRAME, channel=2)
    add_sound(scene, write_wav(workdir / "music.wav", 0.5), frame=1, channel=3, name="music")  # channel 3 busy
    s = scene.eamm
    s.portrait_path = str(SAMPLE_PORTRAIT)
    s.audio_strip = sound.name
    s.emotion_source = "NONE"
    for frame, value in ((AUDIO_FRAME, 0.2), (AUDIO_FRAME + fps, 1.8)):
        s.strength = value
        s.keyframe_insert("strength", frame=frame)
    return scene, sound


def poll_until_done(timeout: float = 300.0) -> None:
    """What bpy.app.timers would do in the UI: call the callback until it asks to stop."""
    deadline = time.monotonic() + timeout
    while operators.poll_jobs() is not None:
        assert time.monotonic() < deadline, "the job did not finish in time"
        time.sleep(0.3)
    operators.stop_polling()


def check_sync(scene, sound, strip, fps: int, available: range) -> None:
    assert strip.type == "IMAGE"
    # the frames keep their pixel size in the scene's frame (fit Original); the strip's transform places them
    assert strip.transform.scale_x == strip.transform.scale_y == 1.0
    assert strip.frame_final_start == sound.frame_final_start == AUDIO_FRAME
    assert strip.frame_final_end == sound.frame_final_end  # ends with the audio: no drift
    assert strip.frame_final_duration == sound.frame_final_duration == round(1.2 * fps)
    assert strip.channel == 4  # first free channel above the audio (3 is taken during the strip)
    for f in range(strip.frame_final_start, strip.frame_final_end):
        k = int(strip.strip_elem_from_frame(f).filename[6:12])
        t_scene = Fraction(f - AUDIO_FRAME, fps)
        nearest = min(available.stop - 1, timing.round_half_down(t_scene * 25))
        assert k == nearest, f"scene frame {f} shows model frame {k}, expected {nearest}"
        if nearest < available.stop - 1:  # past the last rendered frame the strip holds it
            assert abs(Fraction(k, 25) - t_scene) <= Fraction(1, 50)


@pytest.mark.parametrize("fps", [24, 25, 30])
def test_generate_poll_import_in_sync(scene, workdir, prefs, fps):
    scene, sound = make_scene(scene, workdir, fps)
    assert bpy.ops.eamm.generate() == {"FINISHED"}
    assert bpy.app.timers.is_registered(operators.poll_jobs)  # returned at once; the timer polls
    assert scene.eamm.job_state == "uploading"  # the upload runs on the add-on's worker thread
    poll_until_done()
    assert scene.eamm.job_state == "done", scene.eamm.message
    assert scene.eamm.progress == 1.0
    strip = next(s for s in blend.strips(scene) if s.name == "EAMM")
    out_dir = blend.output_dir(scene)
    assert out_dir == workdir / "eamm" / "shot"
    record = JobRecord.load(out_dir)
    assert record.job_id == scene.eamm.job_id and record.model_start == 0
    check_sync(scene, sound, strip, fps, range(record.frames[0], record.frames[-1] + 1))
    assert strip.transform.scale_y == 1.0  # the 256 px crop keeps its pixel size (fit Original)
    # every element is a file on disk, referenced relative to the saved .blend
    assert strip.directory.startswith("//")
    for elem in strip.elements:
        assert (out_dir / "frames" / elem.filename).is_file()

    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(workdir / "shot.blend"))
    scene = bpy.context.scene
    strip = next(s for s in blend.strips(scene) if s.name == "EAMM")
    sound = next(s for s in blend.strips(scene) if s.name == "speech")
    check_sync(scene, sound, strip, fps, range(record.frames[0], record.frames[-1] + 1))
    assert scene.eamm.job_id == record.job_id and scene.eamm.job_state == "done"
    assert Path(bpy.path.abspath(strip.directory), strip.elements[0].filename).is_file()


def test_strength_only_change_reuses_the_servers_cache(scene, workdir, prefs):
    scene, _ = make_scene(scene, workdir, 25)
    client = jobs.make_client()
    first = jobs.run_blocking(scene, client, log=lambda line: None)
    assert first.name == "EAMM"
    fc = blend.find_fcurve(scene, "eamm.strength")
    fc.keyframe_points[1].co.y = 0.7  # only the strength curve changes
    started = time.monotonic()
    jobs.run_blocking(scene, client, log=lambda line: None)
    second_s = time.monotonic() - started
    status = client.status(scene.eamm.job_id)
    assert status["state"] == "done"
    assert "motion" in status["cached"], status  # only the combination and the render ran again
    sent = json.loads((blend.output_dir(scene) / "eamm_job.json").read_text())
    assert sent["job_id"] == status["id"]
    print(f"second generate (strength only) took {second_s:.1f} s; cached: {status['cached']}")


def test_cancel_keeps_the_job_and_stops_polling(scene, workdir, prefs):
    scene, _ = make_scene(scene, workdir, 25, seconds=2.0)
    scene.eamm.seed = 99  # a job the cache has not seen
    assert bpy.ops.eamm.generate() == {"FINISHED"}
    assert bpy.ops.eamm.cancel() == {"FINISHED"}
    poll_until_done()
    assert scene.eamm.job_state in ("cancelled", "done")  # done if it finished before the cancel landed
    assert not bpy.app.timers.is_registered(operators.poll_jobs)


def test_trimmed_strip_sends_curves_from_the_sound_start_and_imports_in_sync(scene, workdir, prefs):
    scene, sound = make_scene(scene, workdir, 24, seconds=1.6)
    sound.frame_offset_start = 12  # the first half second is trimmed away
    for key in blend.find_fcurve(scene, "eamm.strength").keyframe_points:
        key.interpolation = "LINEAR"
    client = jobs.make_client()
    sent = []
    submit = client.submit
    client.submit = lambda job: sent.append(job) or submit(job)
    strip = jobs.run_blocking(scene, client, log=lambda line: None)
    job = sent[-1]
    assert job["frame_start"] == 12  # 0.5 s = model frame 12.5 → the earlier one
    assert len(job["strength"]) == job["frame_end"]  # indexed from the sound's first frame
    place = blend.placement(scene, sound)
    for k in (12, 20, job["frame_end"] - 1):  # strength keyed 0.2 → 1.8 over the first scene second
        assert job["strength"][k] == pytest.approx(min(1.8, 0.2 + 1.6 * k / 25), abs=1e-3)
    assert (strip.frame_final_start, strip.frame_final_end) == (sound.frame_final_start, sound.frame_final_end)
    assert strip.frame_final_start == AUDIO_FRAME + 12
    for f in range(strip.frame_final_start, strip.frame_final_end):
        k = int(strip.strip_elem_from_frame(f).filename[6:12])
        assert k == min(job["frame_end"] - 1, place.model_frame_at(f))
