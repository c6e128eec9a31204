"""The landmark engine's server runs without the neural/app extras (what the Blender extension bundles).

A real eamm-server and its job process run with a ``sitecustomize`` that makes importing torch, librosa,
numba, PyYAML, httpx, imageio (the package; imageio_ffmpeg's binary is allowed) or safetensors fail;
a landmark job of 1 s must still finish with its frames and MP4, and the server must report the CPU.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

from conftest import shared_path

from blender_addon.client import Client, ClientError

REPO = Path(__file__).resolve().parents[1]
BLOCKED = ("torch", "librosa", "numba", "yaml", "httpx", "imageio", "safetensors")
SITECUSTOMIZE = f"""
import sys

class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"{{name}} is blocked: not in the landmark-only set", name=name)
        return None

sys.meta_path.insert(0, _Blocker())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cut(src: Path, dst: Path, seconds: float) -> Path:
    with wave.open(str(src), "rb") as r:
        params = r.getparams()
        data = r.readframes(int(seconds * params.framerate))
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(data)
    return dst


def test_a_landmark_job_needs_none_of_the_extras(tmp_path, monkeypatch):
    audio = _cut(shared_path("fixtures", "audio", "speech_7s.wav"), tmp_path / "speech.wav", 1.0)
    portrait = shared_path("fixtures", "portraits", "7.png")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    check = subprocess.run([sys.executable, "-c", "import torch"], env={**os.environ, "PYTHONPATH": str(hooks)},
                           capture_output=True, text=True)
    assert "blocked" in check.stderr  # the blocker works (torch is installed in this venv)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(hooks), str(REPO))),
           "EAMM_TOKEN_FILE": str(tmp_path / "token")}
    monkeypatch.setenv("EAMM_TOKEN_FILE", env["EAMM_TOKEN_FILE"])
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "server.main", "--port", str(port), "--data",
                                 str(tmp_path / "data")], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=str(tmp_path))
    try:
        client = Client(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        while True:
            try:
                health = client.health()
                break
            except ClientError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        assert health["engines"]["landmark"] is True and health["device"] == "cpu"
        ids = {role: client.upload(path, role)["id"] for role, path in (("audio", audio), ("portrait", portrait))}
        status = client.submit({"engine": "landmark", **ids, "frame_end": 24})
        while status["state"] not in ("done", "failed", "cancelled", "interrupted"):
            assert time.monotonic() < deadline + 300
            time.sleep(0.2)
            status = client.status(status["id"])
        assert status["state"] == "done", status
        assert status["frames_done"] == 24 and status["outputs"] == {"frames": True, "mp4": True}
    finally:
        proc.terminate()
        proc.wait(30)
