"""Blender never waits: the add-on driven as Blender drives it (the operator, then the timer callback
again and again; bpy.app.timers never fire in the bpy module) against a real eamm-server behind a
proxy that holds every new connection 1.5 s (a busy GPU box or an SSH tunnel on another port).

The operator and each timer tick must return within 0.3 s while uploads, polls and the frames
download take seconds; the issue's acceptance bound, far above what they take (milliseconds).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
import wave
from pathlib import Path

import bpy
import pytest
from conftest import SAMPLE_PORTRAIT, SAMPLE_SPEECH, add_sound
from real_server import RealServer
from slow_proxy import SlowProxy
from test_generate import check_sync, make_scene

import blender_addon
from blender_addon import blend, operators, worker
from blender_addon.state import JobRecord

UI_BOUND_S = 0.3
HOLD_S = 1.5


class Drive:
    """Ticks the timer callback like Blender would, recording tick times and what the panel showed."""

    def __init__(self, scene):
        self.scene, self.ticks, self.lines, self.progress = scene, [], [], []

    def tick(self):
        started = time.monotonic()
        again = operators.poll_jobs()
        self.ticks.append(time.monotonic() - started)
        s = self.scene.eamm
        self.slow_at = getattr(self, "slow_at", [])
        if self.ticks[-1] > UI_BOUND_S / 3:
            self.slow_at.append((round(self.ticks[-1], 3), s.status))
        if not self.lines or self.lines[-1] != s.status:
            self.lines.append(s.status)
        self.progress.append(s.progress)
        return again

    def until(self, done, timeout: float = 300.0, pause: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out; panel said {self.lines[-5:]}"
            if self.tick() is None and not done():
                raise AssertionError(f"the add-on went idle first; panel said {self.lines[-5:]}, "
                                     f"message {self.scene.eamm.message!r}")
            time.sleep(pause)

    def idle(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while self.tick() is not None:
            assert time.monotonic() < deadline, f"still busy; panel said {self.lines[-5:]}"
            time.sleep(0.05)
        operators.stop_polling()

    def slowest(self) -> float:
        if max(self.ticks) > UI_BOUND_S:
            print("slow ticks (s, state line after):", getattr(self, "slow_at", []))
        return max(self.ticks)


def timed_op(op) -> tuple[set, float]:
    started = time.monotonic()
    result = op()
    return result, time.monotonic() - started


def server_jobs(server) -> list:
    req = urllib.request.Request(server.url + "/v1/jobs", headers={"Authorization": f"Bearer {server.token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        data = json.loads(r.read())
    return data.get("jobs", data) if isinstance(data, dict) else data


def long_wav(dst: Path, seconds: float) -> Path:
    """``seconds`` of speech: the sample speech repeated."""
    src = SAMPLE_SPEECH
    with wave.open(str(src), "rb") as r:
        params, data = r.getparams(), r.readframes(r.getnframes())
    need = int(seconds * params.framerate) * params.sampwidth * params.nchannels
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes((data * (need // len(data) + 1))[:need])
    return dst


@pytest.fixture
def slow(server, prefs, monkeypatch):
    """The Server URL points at a slow proxy on its own port (a tunnel: ssh -L <other>:localhost:<port>)."""
    with SlowProxy(server.port, HOLD_S) as proxy:
        assert proxy.port != server.port
        monkeypatch.setattr(prefs, "server_url", proxy.url)
        yield proxy


def test_generate_through_a_slow_tunnel_never_waits(scene, workdir, server, slow):
    scene, sound = make_scene(scene, workdir, 24)
    scene.eamm.seed = 11  # a job the server's cache has not seen
    result, took = timed_op(bpy.ops.eamm.generate)
    assert result == {"FINISHED"} and took <= UI_BOUND_S, took
    drive = Drive(scene)
    drive.idle()
    assert scene.eamm.job_state == "done", (scene.eamm.message, drive.lines)
    assert drive.slowest() <= UI_BOUND_S, drive.slowest()
    # the panel showed each step; one progress bar went up over upload → render → download
    text = " | ".join(drive.lines)
    for step in ("uploading audio (", "uploading portrait (", "submitting…", "downloading frames"):
        assert step in text, text
    assert any(line.startswith(("rendering ", "queued", "running")) for line in drive.lines), text
    assert drive.progress == sorted(drive.progress) and drive.progress[-1] == 1.0
    assert slow.connections >= 5  # every request went through the held link
    record = JobRecord.load(blend.output_dir(scene))
    strip = next(s for s in blend.strips(scene) if s.name == "EAMM")
    check_sync(scene, sound, strip, 24, range(record.frames[0], record.frames[-1] + 1))
    print(f"slow link: generate {took * 1000:.0f} ms, slowest of {len(drive.ticks)} ticks "
          f"{drive.slowest() * 1000:.0f} ms")


def test_a_30_s_shot_comes_down_streamed_without_stalling(scene, workdir, server, slow):
    bpy.ops.wm.save_as_mainfile(filepath=str(workdir / "long.blend"))
    scene = bpy.context.scene
    scene.render.fps = 25
    sound = add_sound(scene, long_wav(workdir / "long.wav", 30.0), frame=1)
    s = scene.eamm
    s.portrait_path = str(SAMPLE_PORTRAIT)
    s.emotion_source, s.emotion_preset = "PRESET", "happy"  # a bundled preset keeps the job fast
    result, took = timed_op(bpy.ops.eamm.generate)
    assert result == {"FINISHED"} and took <= UI_BOUND_S, took
    drive = Drive(scene)
    part = blend.output_dir(scene) / "frames.zip.part"
    part_sizes = []
    while drive.tick() is not None:
        if part.exists():
            part_sizes.append(part.stat().st_size)  # the zip grows on disk while it comes down
        time.sleep(0.02)
    operators.stop_polling()
    assert s.job_state == "done", (s.message, drive.lines[-5:])
    assert drive.slowest() <= UI_BOUND_S, drive.slowest()
    record = JobRecord.load(blend.output_dir(scene))
    assert len(record.frames) in (749, 750) and record.frames[0] == 0  # the server's own count of the 30 s
    downloads = [ln for ln in drive.lines if ln.startswith("downloading frames ")]
    assert len(downloads) >= 2, drive.lines  # progress by bytes, shown as frames
    assert len(set(part_sizes)) >= 2, part_sizes
    strip = next(x for x in blend.strips(scene) if x.name == "EAMM")
    assert (strip.frame_final_start, strip.frame_final_end) == (sound.frame_final_start, sound.frame_final_end)
    assert len(strip.elements) == sound.frame_final_duration == 750  # one element per scene frame
    print(f"30 s shot: {len(record.frames)} frames, generate {took * 1000:.0f} ms, slowest of "
          f"{len(drive.ticks)} ticks {drive.slowest() * 1000:.0f} ms, {len(part_sizes)} partial-zip sizes seen")


def test_cancel_during_the_upload(scene, workdir, server, slow):
    scene, _ = make_scene(scene, workdir, 25)
    scene.eamm.seed = 12
    before = len(server_jobs(server))
    assert bpy.ops.eamm.generate() == {"FINISHED"}
    drive = Drive(scene)
    drive.until(lambda: scene.eamm.status.startswith("uploading "))
    flow = operators._FLOWS[scene.name]
    result, took = timed_op(bpy.ops.eamm.cancel)
    assert result == {"FINISHED"} and took <= UI_BOUND_S
    assert scene.eamm.job_state == "cancelled"
    drive.idle()
    flow.join(30)
    assert not flow.is_alive()
    drive.idle()  # whatever the abandoned flow still said was dropped
    assert scene.eamm.job_state == "cancelled" and not scene.eamm.job_id
    assert len(server_jobs(server)) == before  # nothing was submitted
    assert drive.slowest() <= UI_BOUND_S


def test_cancel_during_the_download(scene, workdir, server, slow):
    scene, _ = make_scene(scene, workdir, 25)
    scene.eamm.seed = 13
    assert bpy.ops.eamm.generate() == {"FINISHED"}
    drive = Drive(scene)
    drive.until(lambda: scene.eamm.job_state == "downloading")
    flow = operators._FLOWS[scene.name]
    result, took = timed_op(bpy.ops.eamm.cancel)
    assert result == {"FINISHED"} and took <= UI_BOUND_S
    flow.join(30)
    drive.idle()
    out = blend.output_dir(scene)
    assert scene.eamm.job_state == "cancelled"
    assert not any(s.name == "EAMM" for s in blend.strips(scene))  # nothing imported
    assert not (out / "frames.zip.part").exists() and not (out / "frames.zip").exists()
    assert drive.slowest() <= UI_BOUND_S


def test_server_killed_mid_job(scene, workdir, prefs, monkeypatch):
    python = os.environ.get("EAMM_MAIN_PYTHON")
    if not python:
        pytest.skip("EAMM_MAIN_PYTHON is not set")
    own = RealServer(python)  # a server this test may kill
    try:
        monkeypatch.setattr(prefs, "server_url", own.url)
        monkeypatch.setenv("EAMM_TOKEN_FILE", str(own.token_file))
        scene, _ = make_scene(scene, workdir, 25, seconds=5.0)
        assert bpy.ops.eamm.generate() == {"FINISHED"}
        drive = Drive(scene)
        drive.until(lambda: scene.eamm.job_state in ("queued", "running"))
        own.proc.kill()
        own.proc.wait(10)
        drive.idle(60)
        assert scene.eamm.message == (f"eamm-server stopped answering at {own.url}; the job goes on there: "
                                      "press Import when it is back")
        assert scene.eamm.job_state == "unreachable" and bpy.ops.eamm.import_strip.poll()
        assert bpy.ops.eamm.generate.poll()  # the artist is not stuck either
        assert drive.slowest() <= UI_BOUND_S
    finally:
        own.stop()
        shutil.rmtree(own.tmp, ignore_errors=True)


def test_unregister_with_a_request_in_flight(scene, workdir, server, slow):
    scene, _ = make_scene(scene, workdir, 25)
    scene.eamm.seed = 14
    assert bpy.ops.eamm.generate() == {"FINISHED"}
    flow = operators._FLOWS[scene.name]
    assert flow.is_alive()
    started = time.monotonic()
    blender_addon.unregister()
    took = time.monotonic() - started
    blender_addon.register()  # for the fixture, which unregisters (and checks) at the end
    assert took <= UI_BOUND_S, took
    assert flow.abort.is_set() and not operators._FLOWS
    flow.join(30)
    assert operators.poll_jobs() is None  # what the abandoned flow posted is dropped


def test_unregister_stops_the_server_it_started(scene, workdir, prefs, monkeypatch):
    python = os.environ["EAMM_MAIN_PYTHON"]
    from test_errors import dead_url

    url = dead_url()
    monkeypatch.setattr(prefs, "server_url", url)
    monkeypatch.setattr(prefs, "server_command", f'"{python}" -m server.main --data "{workdir / "data"}"')
    monkeypatch.setenv("PYTHONPATH", str(Path(blender_addon.__file__).resolve().parents[1]))
    monkeypatch.setenv("EAMM_TOKEN_FILE", str(workdir / "token"))
    assert bpy.ops.eamm.start_server() == {"FINISHED"}
    from conftest import tick_until_idle

    tick_until_idle(120)
    proc = worker.server_process()
    assert operators.SERVER["ok"] and proc is not None, operators.SERVER
    started = time.monotonic()
    blender_addon.unregister()
    took = time.monotonic() - started
    blender_addon.register()
    assert took <= UI_BOUND_S, took
    assert proc.wait(20) is not None  # it stopped on its own after being told


def test_a_foreign_host_refusal_is_reported_as_such(scene, workdir, server, prefs, monkeypatch):
    with SlowProxy(server.port, 0.0, host="evil.example") as proxy:
        monkeypatch.setattr(prefs, "server_url", proxy.url)
        scene, _ = make_scene(scene, workdir, 25)
        scene.eamm.seed = 15
        assert bpy.ops.eamm.generate() == {"FINISHED"}
        Drive(scene).idle(60)
    assert scene.eamm.message_kind == "host", scene.eamm.message
    assert "refused the host name" in scene.eamm.message and "wrong token" not in scene.eamm.message


def test_results_after_loading_another_blend_are_dropped(scene, workdir, server, slow):
    scene, _ = make_scene(scene, workdir, 25)
    scene.eamm.seed = 16
    bpy.ops.wm.save_as_mainfile(filepath=str(workdir / "other.blend"), copy=True)
    assert bpy.ops.eamm.generate() == {"FINISHED"}
    flow = operators._FLOWS[scene.name]
    bpy.ops.wm.open_mainfile(filepath=str(workdir / "other.blend"))  # another .blend: load_post
    assert flow.abort.is_set() and not operators._FLOWS
    flow.join(30)
    assert operators.poll_jobs() is None
    new = bpy.context.scene
    assert not new.eamm.job_id and not new.eamm.status and new.eamm.job_state == ""
    assert not any(s.name == "EAMM" for s in blend.strips(new))
