"""How long Blender's main thread is held while the add-on generates through a slow link.

    EAMM_MAIN_PYTHON=.venv/bin/python .venv-bpy50/bin/python bench/addon_responsive.py [--seconds 30] [--hold 1.5]

bpy module, a real eamm-server on loopback behind a proxy (tests/blender/slow_proxy.py) that holds every
new connection ``--hold`` seconds, landmark engine, the bundled preset ``happy``. The operator runs,
then the timer callback is called every 20 ms (what bpy.app.timers does in the UI) until the strip is
in. Baseline, measured in the same run: the job's wall time, i.e. how long a blocking add-on would
hold the UI. Prints the operator's time, the slowest tick, all main-thread time, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "blender")]


def run_once(scene, wav: Path, portrait: Path) -> dict:
    import bpy

    from blender_addon import operators

    t0 = time.perf_counter()
    assert bpy.ops.eamm.generate() == {"FINISHED"}
    op_s = time.perf_counter() - t0
    ticks = []
    while True:
        t = time.perf_counter()
        again = operators.poll_jobs()
        ticks.append(time.perf_counter() - t)
        if again is None:
            break
        time.sleep(0.02)
    operators.stop_polling()
    wall = time.perf_counter() - t0
    if scene.eamm.job_state != "done":
        raise SystemExit(f"job ended {scene.eamm.job_state}: {scene.eamm.message}")
    return {"wall": wall, "op": op_s, "slowest": max(ticks), "main": op_s + sum(ticks), "ticks": len(ticks)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0, help="speech length (the 11 s fixture repeated)")
    p.add_argument("--hold", type=float, default=1.5, help="seconds the proxy holds each new connection")
    args = p.parse_args()
    python = os.environ.get("EAMM_MAIN_PYTHON") or str(REPO / ".venv" / "bin" / "python")

    import bpy
    from real_server import RealServer
    from slow_proxy import SlowProxy
    from test_never_waits import long_wav

    import blender_addon
    from blender_addon import preferences

    work = Path(tempfile.mkdtemp(prefix="eamm-bench-"))
    server = RealServer(python)
    proxy = SlowProxy(server.port, args.hold)
    os.environ["EAMM_TOKEN_FILE"] = str(server.token_file)
    preferences.FALLBACK.server_url = proxy.url
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(work / "shot.blend"))
        scene = bpy.context.scene
        scene.render.fps = 25
        editor = scene.sequence_editor_create()
        coll = editor.strips if hasattr(editor, "strips") else editor.sequences
        coll.new_sound("speech", str(long_wav(work / "speech.wav", args.seconds)), 1, 1)
        portrait = REPO.parent / "shared" / "fixtures" / "portraits" / "7.png"
        scene.eamm.portrait_path = str(portrait)
        scene.eamm.emotion_source, scene.eamm.emotion_preset = "PRESET", "happy"
        r = run_once(scene, work / "speech.wav", portrait)
    finally:
        blender_addon.unregister()
        proxy.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(server.tmp, ignore_errors=True)
    print(f"{args.seconds:.0f} s shot through a link holding each connection {args.hold} s "
          f"({proxy.connections} connections)")
    print(f"baseline: job wall time (what a blocking add-on would hold the UI) {r['wall']:.2f} s")
    print(f"operator {r['op'] * 1000:.0f} ms; slowest of {r['ticks']} timer ticks {r['slowest'] * 1000:.0f} ms; "
          f"main thread busy {r['main']:.2f} s in all")
    print(f"longest UI stall / baseline: {max(r['op'], r['slowest']) / r['wall']:.4f} "
          f"({r['wall'] / max(r['op'], r['slowest']):.0f}x shorter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
