"""Every failure gives one clear line in the panel (and the operator's report), against a real server."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import bpy
import pytest
from conftest import SAMPLE_PORTRAIT, add_sound, tick_until_idle, write_wav

from blender_addon import client, jobs, operators, worker


def ready_scene(scene, workdir):
    bpy.ops.wm.save_as_mainfile(filepath=str(workdir / "shot.blend"))
    scene = bpy.context.scene
    add_sound(scene, write_wav(workdir / "speech.wav", 1.0), frame=1)
    scene.eamm.portrait_path = str(SAMPLE_PORTRAIT)
    scene.eamm.emotion_source = "NONE"
    return scene


def generate_error(scene) -> str:
    """The panel's message for a Generate that fails: at once (settings) or from the worker (server)."""
    try:
        result = bpy.ops.eamm.generate()
    except RuntimeError as err:  # found before anything was sent: the operator reports it
        assert scene.eamm.message and scene.eamm.message in str(err)
    else:
        assert result == {"FINISHED"}
        tick_until_idle(120)
        assert scene.eamm.job_state in ("", "unreachable") and not operators.busy(scene)
    assert scene.eamm.message
    assert "\n" not in scene.eamm.message and "Traceback" not in scene.eamm.message
    return scene.eamm.message


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_server_not_running_offers_to_start_it(scene, workdir, prefs, monkeypatch):
    scene = ready_scene(scene, workdir)
    url = dead_url()
    monkeypatch.setattr(prefs, "server_url", url)
    message = generate_error(scene)
    assert message == f"eamm-server is not running at {url}: start it with the Start server button or `eamm-server`"
    assert scene.eamm.message_kind == "not_running"  # the panel shows the Start server button
    assert operators.SERVER["ok"] is False


def test_wrong_token(scene, workdir, prefs, monkeypatch):
    scene = ready_scene(scene, workdir)
    bad = workdir / "token"
    bad.write_text("not-the-token")
    monkeypatch.setenv("EAMM_TOKEN_FILE", str(bad))
    message = generate_error(scene)
    assert message.startswith("wrong token for eamm-server") and str(bad) in message
    assert scene.eamm.message_kind == "token"


def test_no_face_in_the_portrait(scene, workdir, prefs):
    scene = ready_scene(scene, workdir)
    image = bpy.data.images.new("blank", 128, 128)
    image.generated_color = (0.3, 0.5, 0.2, 1.0)
    image.filepath_raw = str(workdir / "blank.png")
    image.file_format = "PNG"
    image.save()
    scene.eamm.portrait_path = str(workdir / "blank.png")
    message = generate_error(scene)
    assert "face" in message.lower() and "blank.png" in message
    assert scene.eamm.message_kind == "input"


def test_unreadable_audio(scene, workdir, prefs):
    scene = ready_scene(scene, workdir)
    garbage = workdir / "broken.wav"
    garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio" * 20)
    scene.eamm.audio_source = "FILE"
    scene.eamm.audio_path = str(garbage)
    message = generate_error(scene)
    assert "broken.wav" in message and scene.eamm.message_kind == "input"


def test_missing_portrait_file_and_unsaved_blend(scene, workdir, prefs):
    scene.eamm.portrait_path = str(workdir / "nope.png")
    message = generate_error(scene)  # unsaved file with a '//' output folder
    assert "not saved" in message
    scene = ready_scene(scene, workdir)
    scene.eamm.portrait_path = str(workdir / "nope.png")
    assert "nope.png does not exist" in generate_error(scene)


def test_start_and_stop_server_from_the_addon(scene, workdir, prefs, monkeypatch):
    python = os.environ["EAMM_MAIN_PYTHON"]
    url = dead_url()
    port = url.rsplit(":", 1)[1]
    monkeypatch.setattr(prefs, "server_url", url)
    monkeypatch.setattr(prefs, "server_command",
                        f'"{python}" -m server.main --port {port} --data "{workdir / "data"}"')
    repo = str(Path(jobs.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    assert not bpy.ops.eamm.stop_server.poll()
    assert bpy.ops.eamm.start_server() == {"FINISHED"}  # returns at once; a worker waits for /health
    try:
        assert operators.SERVER["line"].startswith("starting eamm-server")
        tick_until_idle(120)
        assert operators.SERVER["ok"] and operators.SERVER["line"].startswith("connected · http://")
        assert bpy.ops.eamm.stop_server.poll()
        proc = worker.server_process()
        assert proc.args[-3:] == ["--port", port, "--watch-stdin"] or proc.args[-1] == "--watch-stdin"
    finally:
        bpy.ops.eamm.stop_server()
    assert proc.wait(30) is not None and worker.server_process() is None


def test_server_args_from_preferences():
    class P:
        server_python = ""
        server_command = 'eamm-server --port 9000 --data "/my data"'

    assert jobs.server_args(P) == ["eamm-server", "--port", "9000", "--data", "/my data"]
    P.server_python = sys.executable
    P.server_url = "http://127.0.0.1:8765"
    assert jobs.server_args(P) == [sys.executable, "-m", "server.main", "--port", "8765"]
    assert jobs.server_args(P, "http://127.0.0.1:9123")[-2:] == ["--port", "9123"]


def test_auto_start_starts_the_server_then_sends_the_job(scene, workdir, prefs, monkeypatch):
    import time

    scene = ready_scene(scene, workdir)
    python = os.environ["EAMM_MAIN_PYTHON"]
    url = dead_url()
    monkeypatch.setattr(prefs, "server_url", url)
    monkeypatch.setattr(client, "DEFAULT_URL", url)  # automatic start is for the default URL only
    monkeypatch.setattr(jobs, "DEFAULT_URL", url)
    monkeypatch.setattr(prefs, "auto_start", True)
    monkeypatch.setattr(prefs, "server_command", f'"{python}" -m server.main --port {url.rsplit(":", 1)[1]} '
                                                 f'--data "{workdir / "data"}"')
    repo = str(Path(jobs.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("EAMM_TOKEN_FILE", str(workdir / "token"))  # the new server writes its token here
    try:
        assert bpy.ops.eamm.generate() == {"FINISHED"}
        assert operators.busy(scene)
        assert not bpy.ops.eamm.generate.poll()  # no second job while waiting
        seen = set()
        deadline = time.monotonic() + 300
        while operators.poll_jobs() is not None:
            seen.add(scene.eamm.status)
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert "starting eamm-server…" in seen
        assert scene.eamm.job_state == "done", scene.eamm.message
        assert scene.eamm.message.startswith("imported ")
        assert worker.server_process().args[-1] == "--watch-stdin"
    finally:
        operators.stop_polling()
        worker.stop_server(wait=10)


def test_auto_start_never_replaces_a_tunnel_that_is_down(scene, workdir, prefs, monkeypatch):
    scene = ready_scene(scene, workdir)
    url = dead_url()  # e.g. http://127.0.0.1:9000 of an SSH tunnel that is not open
    monkeypatch.setattr(prefs, "server_url", url)
    monkeypatch.setattr(prefs, "auto_start", True)
    monkeypatch.setattr(prefs, "server_command", "eamm-server-that-must-not-start")
    message = generate_error(scene)
    assert message.startswith(f"eamm-server is not answering at {url}: start it there (or open the SSH tunnel)")
    assert worker.server_process() is None and scene.eamm.message_kind == "not_running"


def test_a_started_server_listens_on_the_server_urls_port():
    class P:
        server_python = ""
        server_command = "eamm-server --data /d"
        server_url = "http://127.0.0.1:9123"

    assert jobs.launch_args(P, P.server_url) == ["eamm-server", "--data", "/d", "--port", "9123", "--watch-stdin"]
    P.server_command = "eamm-server --port 8765"
    with pytest.raises(jobs.AddonError, match="listens on port 8765 but the Server URL"):
        jobs.launch_args(P, P.server_url)
    with pytest.raises(jobs.AddonError, match="not on this computer"):
        jobs.launch_args(P, "http://gpu-box:8765")


def test_check_server_fills_the_status_line(scene, prefs):
    assert bpy.ops.eamm.check_server() == {"FINISHED"}
    tick_until_idle(60)
    line = operators.SERVER["line"]
    assert operators.SERVER["ok"] and line.startswith("connected · http://")
    device = line.rsplit(" · ", 1)[1]
    assert "landmark" in line and (device == "cpu" or device.startswith("cuda"))
    assert isinstance(operators.SERVER.get("presets"), list)
