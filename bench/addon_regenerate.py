"""Generate from Blender, then generate again after changing only the strength curve.

    EAMM_MAIN_PYTHON=.venv/bin/python .venv-bpy50/bin/python bench/addon_regenerate.py [--seconds 2] [--repeat 2]
        [--emotion PRESET | --emotion none]

Runs the add-on's job flow (bpy module, a real eamm-server on loopback, landmark engine): the first
generate is the baseline (nothing cached), each later one changes only the strength keys, which the
server's cache should serve from the motion stage on. Prints seconds and the ratio to the baseline.
The emotion is the add-on's default, the bundled preset ``happy`` (``--emotion none``: talk only).
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="speech length")
    p.add_argument("--repeat", type=int, default=2, help="strength-only regenerations")
    p.add_argument("--emotion", default="happy", help="a bundled preset name (the add-on's default: happy) or none")
    args = p.parse_args()
    python = os.environ.get("EAMM_MAIN_PYTHON") or str(REPO / ".venv" / "bin" / "python")

    import bpy
    from make_shot import make_shot
    from real_server import RealServer

    import blender_addon
    from blender_addon import blend, jobs

    work = Path(tempfile.mkdtemp(prefix="eamm-bench-"))
    server = RealServer(python)
    blender_addon.register()
    try:
        make_shot(work / "shot.blend", fps=24, seconds=args.seconds)
        scene = bpy.context.scene
        if args.emotion.lower() == "none":
            scene.eamm.emotion_source = "NONE"
        else:
            scene.eamm.emotion_source, scene.eamm.emotion_preset = "PRESET", args.emotion
        os.environ["EAMM_TOKEN_FILE"] = str(server.token_file)
        client = jobs.Client(server.url)
        rows = []
        for i in range(1 + args.repeat):
            if i:
                blend.find_fcurve(scene, "eamm.strength").keyframe_points[1].co.y = 0.3 + 0.4 * i
            t0 = time.perf_counter()
            jobs.run_blocking(scene, client, log=lambda line: None, interval=0.1)
            elapsed = time.perf_counter() - t0
            cached = client.status(scene.eamm.job_id)["cached"]
            rows.append((elapsed, cached))
        base = rows[0][0]
        print(f"bpy {bpy.app.version_string}; {args.seconds:.1f} s speech; emotion {args.emotion}; "
              "generate → import, seconds")
        print("| run | seconds | / first | cached stages |")
        print("|---|---|---|---|")
        for i, (elapsed, cached) in enumerate(rows):
            label = "first (cold)" if i == 0 else f"strength only #{i}"
            print(f"| {label} | {elapsed:.2f} | {elapsed / base:.2f} | {', '.join(cached) or '–'} |")
    finally:
        blender_addon.unregister()
        server.stop()
        shutil.rmtree(server.tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
