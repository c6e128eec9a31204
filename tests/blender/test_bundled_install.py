"""The linux platform zip, as a new user gets it: Blender's own installer, an empty HOME, no eamm-server on
PATH, no project on PYTHONPATH; Generate sets up and starts the bundled server by itself. Then a newer
version replaces the old setup, quitting Blender stops the server, and removing the extension leaves no
server running (and no user folder).

One end-to-end run per bpy version (the zip is built once into dist/ and reused while its inputs are
unchanged; the wheels are cached in ~/.cache/eamm/addon-wheels).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_PORTRAIT, write_wav

MOD = "bl_ext.user_default.eamm_talking_faces"

CHILD = r"""
import importlib, json, os, shutil, sys, time
import bpy

zip1, zip2, wav, portrait, port, out, mode = sys.argv[-7:]
MOD = "bl_ext.user_default.eamm_talking_faces"
url = f"http://127.0.0.1:{port}"
print("WHICH", shutil.which("eamm-server"), flush=True)


def mods():
    names = ("bundled", "client", "jobs", "operators", "preferences", "worker")
    m = {n: importlib.import_module(f"{MOD}.{n}") for n in names}
    m["client"].DEFAULT_URL = m["jobs"].DEFAULT_URL = url  # a free port in place of 8765 (shared machine)
    return m


def pump(m, timeout):
    seen, t0 = {}, time.monotonic()
    while m["operators"].poll_jobs() is not None:
        seen.setdefault(bpy.context.scene.eamm.status.split(":")[0], round(time.monotonic() - t0, 2))
        assert time.monotonic() - t0 < timeout, "still busy"
        time.sleep(0.05)
    m["operators"].stop_polling()
    return seen


def report(key, value):
    print(key, json.dumps(value), flush=True)


assert bpy.ops.extensions.package_install_files(filepath=zip1, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
m = mods()
prefs = bpy.context.preferences.addons[MOD].preferences
report("DEFAULTS", [prefs.auto_start, prefs.use_bundled, m["bundled"].available()])
prefs.server_url = url
scene = bpy.context.scene
scene.render.fps = 25
editor = scene.sequence_editor_create()
strips = editor.strips if hasattr(editor, "strips") else editor.sequences
strips.new_sound("speech", wav, 1, 1)
scene.eamm.portrait_path = portrait
scene.eamm.output_dir = out
t0 = time.monotonic()
assert bpy.ops.eamm.generate() == {"FINISHED"}
seen = pump(m, 900)
report("JOB", [scene.eamm.job_state, scene.eamm.message, round(time.monotonic() - t0, 2), seen])
report("STRIPS", [[s.type, s.name, len(s.elements) if s.type == "IMAGE" else 0,
                   s.directory if s.type == "IMAGE" else ""] for s in strips])
old = m["worker"].server_process()
report("SERVER", [old.pid, list(old.args)])
assert bpy.ops.eamm.check_server() == {"FINISHED"}
pump(m, 60)
report("LINE", m["operators"].SERVER["line"])
user_dir = str(m["preferences"].setup_dir())
report("DIRS", [user_dir, os.path.dirname(m["bundled"].__file__), sorted(os.listdir(user_dir))])
report("IMPORTED", sorted(n for n in ("cv2", "dlib", "scipy", "eamm_core", "server", "fastapi", "uvicorn")
                          if n in sys.modules))

# a newer version: installing it disables the old one (its server stops) and replaces the old setup
assert bpy.ops.extensions.package_install_files(filepath=zip2, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
report("OLD_EXIT", old.wait(30))
m = mods()
assert bpy.ops.eamm.start_server() == {"FINISHED"}
lines, t0 = set(), time.monotonic()
while m["operators"].poll_jobs() is not None:
    lines.add(m["operators"].SERVER["line"].split(":")[0])
    assert time.monotonic() - t0 < 300, "still starting"
    time.sleep(0.05)
m["operators"].stop_polling()
new = m["worker"].server_process()
report("UPGRADED", [m["bundled"].info()["id"], sorted(os.listdir(user_dir)), m["operators"].SERVER["line"],
                    new.pid if new else None, sorted(lines)])

report("QUIT", new.pid if new else None)  # Blender quits with the server running: it must stop too
"""

REMOVE = CHILD[:CHILD.index("assert bpy.ops.extensions.package_install_files")] + r"""
# the same HOME again: install 0.1.1 over itself, start its (already set up) server, then remove it
assert bpy.ops.extensions.package_install_files(filepath=zip2, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
m = mods()
bpy.context.preferences.addons[MOD].preferences.server_url = url
user_dir = str(m["preferences"].setup_dir())
assert bpy.ops.eamm.start_server() == {"FINISHED"}
pump(m, 300)
proc = m["worker"].server_process()
report("STARTED", [proc.pid if proc else None, m["bundled"].is_ready(user_dir)])
repo_index = next(i for i, r in enumerate(bpy.context.preferences.extensions.repos) if r.module == "user_default")
bpy.ops.extensions.package_uninstall(repo_index=repo_index, pkg_id="eamm_talking_faces")
report("REMOVED_EXIT", proc.wait(30) if proc else None)
report("AFTER_REMOVE", [MOD in bpy.context.preferences.addons, os.path.isdir(user_dir)])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def linux_zip() -> Path:
    python = os.environ.get("EAMM_MAIN_PYTHON")
    if not python:
        pytest.skip("EAMM_MAIN_PYTHON is not set: `make test-blender` sets it (it builds the zip with pip)")
    out = subprocess.run([python, str(REPO / "scripts" / "build_addon.py"), "--out", str(REPO / "dist"),
                          "--platform", "linux-x64"], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout + out.stderr
    (target,) = REPO.glob("dist/eamm_talking_faces-*-linux_x64.zip")
    return target


def newer_copy(src: Path, dst: Path) -> Path:
    """The same zip as version 0.1.1 (manifest and payload id changed; the rest copied as stored)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "blender_manifest.toml":
                data = data.replace(b'version = "0.1.0"', b'version = "0.1.1"')
            elif info.filename == "payload/payload.json":
                meta = json.loads(data)
                meta["id"] = "0.1.1-" + meta["id"].split("-", 1)[1]
                data = json.dumps(meta).encode()
            zout.writestr(info, data)
    return dst


def _parse(stdout: str) -> dict:
    found = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition(" ")
        if key.isupper() and rest[:1] in "[{\"0123456789-nft":
            try:
                found[key] = json.loads(rest)
            except ValueError:
                pass
    return found


def test_zip_installs_sets_up_generates_upgrades_and_uninstalls(linux_zip, tmp_path):
    wav = write_wav(tmp_path / "speech.wav", 2.0)
    portrait = SAMPLE_PORTRAIT  # the repository's own: the add-on tests need nothing from ../shared
    zip2 = newer_copy(linux_zip, tmp_path / "eamm_talking_faces-0.1.1-linux_x64.zip")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "EAMM_", "XDG_", "BLENDER_"))}
    env.update(HOME=str(home), PATH="/usr/bin:/bin")
    started = time.monotonic()
    argv = [str(linux_zip), str(zip2), str(wav), str(portrait), str(_free_port()), str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv, "first"], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=1500)
    got = _parse(proc.stdout)
    quit_pid = got.get("QUIT")
    quit_stopped = _stops(quit_pid, 20.0) if quit_pid else False
    again = subprocess.run([sys.executable, "-c", REMOVE, *argv, "remove"], capture_output=True, text=True,
                           env=env, cwd=str(tmp_path), timeout=900)
    removed = _parse(again.stdout)
    detail = proc.stdout[-4000:] + proc.stderr[-4000:]
    print(f"figures: {json.dumps({k: got.get(k) for k in ('JOB', 'LINE', 'UPGRADED')})} "
          f"total {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, detail
    assert "WHICH None" in proc.stdout, detail  # no eamm-server on PATH
    assert got["DEFAULTS"] == [True, True, True], detail  # auto start and the bundled server, by default
    state, message, _, seen = got["JOB"]
    assert state == "done", detail
    assert "setting up the bundled server (first use)" in seen and "starting eamm-server…" in seen, seen
    image = [s for s in got["STRIPS"] if s[0] == "IMAGE"]
    assert image and image[0][1] == "EAMM" and image[0][2] == 50, got["STRIPS"]  # 2 s at 25 fps
    frames = sorted((tmp_path / "out").rglob("frame_*.png"))
    assert len(frames) >= 49 and frames[0].stat().st_size > 10_000  # the strip holds the last one
    pid, args = got["SERVER"]
    user_dir, ext_dir, listing = got["DIRS"]
    assert args[1:3] == ["-I", "-S"] and args[3].startswith(user_dir), args  # isolated, from the user folder
    setups = [n for n in listing if n.startswith("server-")]
    assert not user_dir.startswith(ext_dir) and len(setups) == 1 and setups[0].startswith("server-0.1.0-"), listing
    assert got["LINE"] == "connected · bundled · landmark · cpu"
    assert got["IMPORTED"] == [], "the server's packages were imported into Blender's process"
    assert got["OLD_EXIT"] is not None
    new_id, new_listing, new_line, new_pid, lines = got["UPGRADED"]
    assert "setting up the bundled server (first use)" in lines, lines  # Start server shows the setup too
    assert new_id.startswith("0.1.1-") and [n for n in new_listing if n.startswith("server-")] == [f"server-{new_id}"]
    assert new_line == "connected · bundled · landmark · cpu" and new_pid not in (None, pid)
    assert quit_pid == new_pid and quit_stopped, "the bundled server outlived Blender"
    assert _stops(pid, 0.0)
    detail = again.stdout[-4000:] + again.stderr[-4000:]
    assert again.returncode == 0, detail
    started_pid, ready = removed["STARTED"]
    assert started_pid and ready, detail  # set up already: no second unpack
    assert removed["REMOVED_EXIT"] is not None and _stops(started_pid, 0.0), detail
    assert removed["AFTER_REMOVE"] == [False, False], detail  # disabled, and its user folder deleted


def _stops(pid: int, within: float) -> bool:
    """The process is gone (or a zombie) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        status = Path(f"/proc/{pid}/status")
        try:
            if "\nState:\tZ" in status.read_text():
                return True
        except OSError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
