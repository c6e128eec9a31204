"""A .blend shot on a farm: the OpenJD template and the Flamenco job type, run for real.

Blender itself is not installed here: ``blender_standin.py`` writes a small ``blender`` wrapper that
runs the bpy module's Python on render.py (``blender -b -y X.blend --python render.py -- ARGS``
becomes ``python render.py X.blend ARGS``). Everything else is real: openjd-cli runs the template's
steps as separate processes with an eamm-server started by the template's environment, node runs
the Flamenco job type's compileJob against a stand-in of Flamenco's authoring API, and the command
lines it produces are executed (tests/test_farm_blender_templates.py checks the template with
`openjd check` and the compiled tasks, dependencies and command lines in detail). The frames must be byte-identical to one render.py run of the whole
shot on this machine (same CPU architecture and libraries).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import bpy
import pytest
from blender_standin import write_standin
from conftest import REPO
from flamenco_helpers import command_line, compile_job, node
from make_shot import make_shot

from blender_addon import blend

RENDER = REPO / "blender_addon" / "render.py"
TEMPLATE = REPO / "farm" / "openjd" / "eamm_blender_shot.yaml"
JOB_TYPE = REPO / "farm" / "flamenco" / "eamm_shot.js"
FPS, SECONDS, CHUNK = 30, 2.4, 25  # 72 scene frames from frame 5 → 3 chunks, 59 model frames


def main_bin(name: str) -> Path:
    python = os.environ.get("EAMM_MAIN_PYTHON")
    if not python:
        pytest.skip("EAMM_MAIN_PYTHON is not set: `make test-blender` sets it to the main venv's python")
    return Path(python).parent / name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frames(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "frames").glob("frame_*.png"))}


def strip_of(shot: Path):
    """(sound strip, EAMM image strip) of the saved .blend."""
    bpy.ops.wm.open_mainfile(filepath=str(shot))
    scene = bpy.context.scene
    sound = next(s for s in blend.strips(scene) if s.type == "SOUND")
    images = [s for s in blend.strips(scene) if s.type == "IMAGE"]
    return scene, sound, images


@pytest.fixture(scope="module")
def reference(tmp_path_factory, server):
    """The whole shot in one render.py run (the farm's frames must equal these)."""
    work = tmp_path_factory.mktemp("farm-ref")
    shot = work / "ref" / "shot.blend"
    make_shot(shot, fps=FPS, seconds=SECONDS)
    out = work / "ref_out"
    env = {**os.environ, "EAMM_TOKEN_FILE": str(server.token_file)}
    result = subprocess.run([sys.executable, str(RENDER), str(shot), "--server", server.url, "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=600, cwd=str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    got = frames(out)
    assert len(got) == 59
    return got


def test_openjd_run_chunks_then_assemble_equals_one_process(scene, workdir, reference):
    """openjd run … --step Assemble --run-dependencies: motion, 3 render chunks, assemble, each a
    separate stand-in Blender process; the job environment starts an eamm-server and stops it."""
    shot = workdir / "ojd" / "shot.blend"
    make_shot(shot, fps=FPS, seconds=SECONDS)
    out = workdir / "ojd_out"
    python = main_bin("python")
    params = {"BlendFile": shot, "BlenderExecutable": write_standin(workdir), "RenderScript": RENDER,
              "OutputDir": out, "FrameStart": 5, "FrameEnd": 76, "ChunkSize": CHUNK,
              "EammServerCommand": f"{python} -m server.main", "ServerPort": free_port()}
    args = [str(main_bin("openjd")), "run", str(TEMPLATE), "--step", "Assemble", "--run-dependencies"]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=str(workdir))
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert log.count("(render) submitted") == 3 and log.count("(motion) submitted") == 1, log[-4000:]
    assert "eamm-server started on port" in log
    assert sorted(p.name for p in (out / "chunks").glob("*.json")) == ["30-54.json", "5-29.json", "55-79.json"]
    assert frames(out) == reference  # byte for byte
    _, sound, images = strip_of(shot)  # one strip, imported once, .blend saved by the Assemble step
    assert len(images) == 1
    assert (images[0].frame_final_start, images[0].frame_final_end) == (sound.frame_final_start,
                                                                        sound.frame_final_end)
    pid_file = next(Path(line.split("EAMM_TOKEN_FILE=")[1].strip()).parent / "pid"
                    for line in log.splitlines() if "EAMM_TOKEN_FILE=" in line)
    assert not pid_file.exists() or not _alive(int(pid_file.read_text()))  # the session's server stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def compile_flamenco(settings: dict) -> dict:
    if node() is None:
        pytest.skip("node is not installed (the Flamenco job type is JavaScript)")
    result = compile_job(JOB_TYPE, settings)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_flamenco_command_lines_render_the_same_frames(scene, workdir, server, reference):
    """The compiled tasks' command lines, run in dependency order with the stand-in Blender against a
    studio server (server_url), give the one-process frames and one imported strip."""
    shot = workdir / "fl" / "shot.blend"
    make_shot(shot, fps=FPS, seconds=SECONDS)
    out = workdir / "fl_out"
    settings = {"blendfile": str(shot), "frame_start": 5, "frame_end": 76, "chunk_size": CHUNK,
                "render_script": str(RENDER), "output_dir": str(out), "server_url": server.url,
                "server_cache": "", "scene": ""}
    tasks = compile_flamenco(settings)["tasks"]
    assert len(tasks) == 5
    variables = {"blender": str(write_standin(workdir)), "blenderArgs": "-b -y"}
    env = {**os.environ, "EAMM_TOKEN_FILE": str(server.token_file)}
    done: set[str] = set()
    for task in tasks:  # the order compileJob added them is a valid dependency order
        assert set(task["dependencies"]) <= done
        result = subprocess.run(command_line(task["commands"][0], variables), capture_output=True, text=True,
                                env=env, timeout=600, cwd=str(workdir))
        assert result.returncode == 0, task["name"] + "\n" + result.stdout + result.stderr
        done.add(task["name"])
    assert frames(out) == reference
    _, sound, images = strip_of(shot)
    assert len(images) == 1 and images[0].frame_final_duration == sound.frame_final_duration


def test_chunks_resume_refuse_another_job_and_assemble_names_missing_frames(scene, workdir, server):
    shot = workdir / "shot.blend"
    make_shot(shot, fps=25, seconds=1.2)  # scene frames 5..34; the server's audio has 29 frames (0..28)
    out = workdir / "out"
    env = {**os.environ, "EAMM_TOKEN_FILE": str(server.token_file)}

    def render(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(RENDER), str(shot), "--server", server.url, "--out", str(out),
                               *args], capture_output=True, text=True, env=env, timeout=600, cwd=str(REPO))

    assert render("--stage", "motion").returncode == 0
    first = render("--stage", "render", "--frame-start", "5", "--frame-end", "19")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(int(p.name[6:12]) for p in (out / "frames").glob("frame_*.png")) == list(range(0, 15))
    again = render("--stage", "render", "--frame-start", "5", "--frame-end", "19")  # a re-run after a crash
    assert again.returncode == 0 and "already there" in again.stdout and "submitted" not in again.stdout
    missing = render("--stage", "assemble")
    assert missing.returncode == 1 and "14 of the job's 29 frames are missing" in missing.stdout, missing.stdout
    assert "saved" not in missing.stdout

    bpy.ops.wm.open_mainfile(filepath=str(shot))  # change a curve after the motion step
    bpy.context.scene.eamm.strength = 0.2
    bpy.context.scene.eamm.keyframe_insert("strength", frame=20)
    bpy.ops.wm.save_mainfile()
    other = render("--stage", "render", "--frame-start", "20", "--frame-end", "34")
    assert other.returncode == 2 and "belongs to another job" in other.stdout, other.stdout
    assert len(list((out / "frames").glob("frame_*.png"))) == 15  # nothing lost


def test_per_task_servers_share_the_motion_through_server_cache(scene, workdir):
    """Flamenco without a studio server: every task starts its own eamm-server (--start-server) with
    --server-cache; the chunk's server, a new process with an empty data folder, finds the motion
    step's stages in the shared cache."""
    shot = workdir / "shot.blend"
    make_shot(shot, fps=25, seconds=1.0)
    cache, out = workdir / "shared-cache", workdir / "out"
    env = {**os.environ, "EAMM_SERVER_PYTHON": str(main_bin("python")), "PYTHONPATH": str(REPO),
           "EAMM_TOKEN_FILE": str(workdir / "token")}

    def task(*args: str, data: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(RENDER), str(shot), "--server", f"http://127.0.0.1:{free_port()}",
                               "--start-server", "--server-cache", str(cache), "--out", str(out), *args],
                              capture_output=True, text=True, timeout=600, cwd=str(REPO),
                              env={**env, "XDG_DATA_HOME": str(workdir / data)})

    motion = task("--stage", "motion", data="worker1")
    assert motion.returncode == 0, motion.stdout + motion.stderr
    assert any(cache.rglob("*")), "the motion step's server wrote nothing into --server-cache"
    chunk = task("--stage", "render", "--frame-start", "1", "--frame-end", "25", data="worker2")
    assert chunk.returncode == 0, chunk.stdout + chunk.stderr
    assert "cached: crop, audio, motion" in chunk.stdout, chunk.stdout
    # the strip starts at scene frame 5: scene frames 1..25 own 25 fps frames 0..20
    assert sorted(int(p.name[6:12]) for p in (out / "frames").glob("frame_*.png")) == list(range(21))
