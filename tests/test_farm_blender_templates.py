"""The .blend farm templates in the main environment: `openjd check` on the OpenJD template, and the
Flamenco job type's compileJob run under node against a stand-in for Flamenco's authoring API
(tests/blender/flamenco_standin.js). tests/blender/test_farm.py runs both for real with bpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "blender"))
from flamenco_helpers import command_line, compile_job, node

TEMPLATE = REPO / "farm" / "openjd" / "eamm_blender_shot.yaml"
JOB_TYPE = REPO / "farm" / "flamenco" / "eamm_shot.js"
SETTINGS = {"blendfile": "/shots/a.blend", "frame_start": 1, "frame_end": 250, "chunk_size": 100,
            "render_script": "/opt/eamm/render.py", "output_dir": "/farm/a/eamm", "server_url": "",
            "server_cache": "/farm/cache", "scene": ""}
BLENDER = {"blender": "blender", "blenderArgs": "-b -y"}


def test_openjd_check_passes_on_the_blend_template():
    openjd = Path(sys.executable).parent / "openjd"
    if not openjd.exists():
        pytest.skip(f"{openjd} is missing: openjd-cli is a test dependency (make install)")
    proc = subprocess.run([str(openjd), "check", str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "passes validation" in proc.stdout, proc.stdout + proc.stderr


needs_node = pytest.mark.skipif(node() is None, reason="node is not installed (the Flamenco job type is JavaScript)")


@needs_node
def test_flamenco_job_type_compiles_motion_chunks_and_assemble():
    proc = compile_job(JOB_TYPE, SETTINGS)
    assert proc.returncode == 0, proc.stderr
    compiled = json.loads(proc.stdout)
    keys = [s["key"] for s in compiled["job_type"]["settings"]]
    assert keys[:4] == ["blendfile", "frame_start", "frame_end", "chunk_size"] and "server_url" in keys
    tasks = compiled["tasks"]
    assert [t["name"] for t in tasks] == ["eamm-motion", "eamm-render-1-100", "eamm-render-101-200",
                                          "eamm-render-201-250", "eamm-assemble"]
    assert all(t["type"] == "blender" and [c["type"] for c in t["commands"]] == ["blender-render"] for t in tasks)
    assert tasks[0]["dependencies"] == [] and all(t["dependencies"] == ["eamm-motion"] for t in tasks[1:4])
    assert tasks[4]["dependencies"] == ["eamm-render-1-100", "eamm-render-101-200", "eamm-render-201-250"]
    assert command_line(tasks[2]["commands"][0], BLENDER) == [
        "blender", "-b", "-y", "/shots/a.blend", "--python-exit-code", "1", "--python", "/opt/eamm/render.py", "--",
        "--stage", "render", "--frame-start", "101", "--frame-end", "200", "--start-server", "--server-cache",
        "/farm/cache", "--out", "/farm/a/eamm"]
    motion = command_line(tasks[0]["commands"][0], BLENDER)
    assert motion[motion.index("--") + 1:] == ["--stage", "motion", "--start-server", "--server-cache", "/farm/cache",
                                               "--out", "/farm/a/eamm"]
    assemble = command_line(tasks[4]["commands"][0], BLENDER)
    assert assemble[assemble.index("--") + 1:] == ["--stage", "assemble", "--out", "/farm/a/eamm"]


@needs_node
def test_flamenco_job_type_uses_a_studio_server_and_a_scene():
    proc = compile_job(JOB_TYPE, {**SETTINGS, "server_url": "http://gpu1:8765", "scene": "Shot 2",
                                  "frame_start": 10, "frame_end": 10, "chunk_size": 3})
    tasks = json.loads(proc.stdout)["tasks"]
    assert [t["name"] for t in tasks] == ["eamm-motion", "eamm-render-10-10", "eamm-assemble"]
    args = command_line(tasks[1]["commands"][0], BLENDER)
    assert args[args.index("--") + 1:] == ["--stage", "render", "--frame-start", "10", "--frame-end", "10", "--server",
                                           "http://gpu1:8765", "--out", "/farm/a/eamm", "--scene", "Shot 2"]


@needs_node
@pytest.mark.parametrize("change,message", [({"frame_end": 0}, "frame_end (0) must be"),
                                            ({"chunk_size": 0}, "chunk_size must be 1 or more")])
def test_flamenco_job_type_refuses_bad_settings(change, message):
    proc = compile_job(JOB_TYPE, {**SETTINGS, **change})
    assert proc.returncode == 2 and message in proc.stderr


def test_render_py_farm_arguments():
    import importlib.util

    spec = importlib.util.spec_from_file_location("eamm_render_py", REPO / "blender_addon" / "render.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)  # argument parsing needs no bpy
    opts = render.parse_args(["blender", "--", "--stage", "render", "--frame-start", "101", "--frame-count", "100"])
    assert (opts.stage, opts.frame_start, opts.frame_end) == ("render", 101, 200)
    opts = render.parse_args(["render.py", "shot.blend", "--stage", "render", "--frame-start", "5", "--frame-end", "9"])
    assert (opts.blend, opts.frame_start, opts.frame_end) == ("shot.blend", 5, 9)
    assert render.parse_args(["blender", "--", "--stage", "assemble"]).frame_start is None
    for bad in (["--stage", "motion", "--frame-start", "1", "--frame-end", "2"],  # a range only for chunks
                ["--stage", "render", "--frame-start", "1"],
                ["--stage", "render", "--frame-count", "5"],
                ["--stage", "render", "--frame-start", "1", "--frame-end", "4", "--frame-count", "2"],
                ["--stage", "bogus"]):
        with pytest.raises(SystemExit) as exc:
            render.parse_args(["blender", "--", *bad])
        assert exc.value.code == 2
