"""Speed of the landmark engine and of the whole job (targets: docs/benchmarks.md, landmark_speed).

Prints, on the repo's own sample (samples/astronaut.png, samples/speech.wav, samples/happy.npz):

1. motion + render at 256x256 (in this process, no file writing): frames per second, each stage's
   share, and paste-back at the portrait's full resolution;
2. the whole job as an artist runs it (``eamm generate`` in a fresh process, a new empty cache
   folder), then the same job with only the strength changed (every stage before the render
   cached): wall and CPU seconds and the first-run / alpha-only-rerun ratio measured in the same
   run (target: the rerun at least 3x faster); ``--pairs N`` repeats the pair with a fresh cache
   each time; the floor of any run (interpreter start and the CLI's imports) is printed beside it;
3. peak resident memory of this process and of the job processes.

Targets: >= 25 fps motion+render at 256^2 and 512^2, >= 10 fps at 1024^2; the whole sample under
15 s at 256^2 and under 30 s at 1024^2 including preparation; the alpha-only rerun >= 3x faster at
256^2, >= 2x at larger sizes. ``--size`` picks the face resolution of part 1 and the jobs (256 by
default; ``auto`` follows the portrait, ``--portrait`` another picture).
CPU seconds are printed beside wall seconds because a shared machine's wall times vary with load
(the load average is printed too).

The jobs run as an installed ``eamm`` runs: with Python's bytecode cache. A machine that sets
``PYTHONDONTWRITEBYTECODE`` (some machines set it globally) would otherwise compile the package's
sources again in every process (~30 ms a run, the same in both runs of a pair); the variable is
dropped for the job processes and one untimed process importing the job's modules writes the cache first.

    .venv/bin/python bench/landmark_speed.py [--frames N] [--keep DIR] [--pairs N] [--emotion CLIP|PRESET]
                                             [--size 256|512|1024|2048|auto] [--portrait IMAGE]
                                             [--skip-jobs | --jobs-only]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PORTRAIT = REPO / "samples" / "astronaut.png"
AUDIO = REPO / "samples" / "speech.wav"
EMOTION = REPO / "samples" / "happy.npz"
PORTRAIT_USED = [PORTRAIT]  # --portrait
TARGET_FPS = {"256": 25.0, "512": 25.0, "1024": 10.0}
TARGET_JOB_S = {"256": 15.0, "1024": 30.0}
TARGET_RATIO = {"256": 3.0}
DEFAULT_RATIO = 2.0


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def engine_stages(max_frames: int | None, size: str = "256") -> dict:
    """Motion, emotion, combine, render and paste-back timed in this process."""
    from eamm_core.engines.base import EngineOptions, combine, get_engine
    from eamm_core.prepare.audio import load_audio
    from eamm_core.prepare.portrait import load_portrait
    from eamm_core.prepare.pose import load_pose
    from eamm_core.presets import load_preset
    from eamm_core.render.paste_back import paste_back

    t = {}
    with Clock() as c:
        crop = load_portrait(PORTRAIT_USED[0])
        audio = load_audio(AUDIO)
    t["prepare (crop, audio)"] = c
    engine = get_engine("landmark", EngineOptions(seed=0, size=size))
    n = audio.num_frames if max_frames is None else min(max_frames, audio.num_frames)
    with Clock() as c:
        kp_s = engine.source_keypoints(crop)
        kp_a = engine.audio_keypoints(crop, audio, load_pose(None, audio.num_frames))
    t["motion (kp_s, kp_a)"] = c
    with Clock() as c:
        delta = engine.emotion_displacements(load_preset(EMOTION), kp_a, crop)
        kp_d = combine(engine, kp_a, delta, np.ones(audio.num_frames, np.float32))
    t["emotion + combine"] = c
    with Clock() as c:
        frames = [f for _, f in engine.render(crop, kp_s, kp_d, range(n))]
    t["render"] = c
    with Clock() as c:
        for f in frames:
            paste_back(crop, f)
    t[f"paste-back {crop.original.shape[1]}x{crop.original.shape[0]}"] = c
    return {"times": t, "frames": n, "total_frames": audio.num_frames, "size": crop.original.shape[:2],
            "face": frames[0].shape[0], "requested": size}


def job_env() -> dict:
    """The job processes' environment: the repo on the path, bytecode caching allowed (module doc)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    return env


def warm_bytecode() -> None:
    """One untimed process importing the job's modules (the CLI's sub-commands included), so their
    bytecode is cached."""
    code = ("import eamm_core.cli as cli; cli.build_parser(); import eamm_core.pipeline, "
            "eamm_core.engines.landmark.engine, eamm_core.engines.landmark.render, eamm_core.presets, "
            "eamm_core.prepare.portrait, eamm_core.prepare.audio, eamm_core.prepare.emotion")
    subprocess.run([sys.executable, "-c", code], env=job_env(), capture_output=True, check=True)


def cli_job(out: Path, cache: Path, strength: float, emotion: Path = EMOTION, size: str = "256") -> dict:
    """One ``eamm generate`` in a fresh process: wall/CPU seconds, peak RSS, cached stages."""
    cmd = [sys.executable, "-m", "eamm_core", "generate", "--portrait", str(PORTRAIT_USED[0]), "--audio", str(AUDIO),
           "--size", size,
           "--emotion", str(emotion), "--strength", str(strength), "--out", str(out), "--cache-dir", str(cache),
           "--quiet", "--no-resume"]
    env = job_env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"eamm generate failed: {proc.stderr.strip()[-400:]}")
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rss_mb": after.ru_maxrss / 1024, "summary": proc.stdout.strip(),
            "cached": manifest["cached_stages"], "timings": manifest["timings_s"], "frames": manifest["frame_count"],
            "face": (manifest.get("frame_size") or {}).get("output")}


def report_stages(res: dict) -> None:
    times, n = res["times"], res["frames"]
    motion = times["motion (kp_s, kp_a)"]
    emo = times["emotion + combine"]
    render = times["render"]
    face = res["face"]
    target = TARGET_FPS.get(str(face))
    # motion is computed for the whole clip; scale it to the rendered frames
    share = n / res["total_frames"]
    mr_wall = (motion.wall + emo.wall) * share + render.wall
    mr_cpu = (motion.cpu + emo.cpu) * share + render.cpu
    print(f"\n== motion + render at {face}x{face} (--size {res['requested']}; {n} frames)")
    for name, c in times.items():
        print(f"  {name:28s} wall {c.wall:6.2f} s   cpu {c.cpu:6.2f} s")
    goal = f"target {target:.0f}; ratio {n / mr_wall / target:.2f}x wall" if target else "no target at this size"
    print(f"  motion+render: {n / mr_wall:6.1f} fps wall, {n / mr_cpu:6.1f} fps per CPU ({goal})")
    for name, c in (("motion", motion), ("emotion+combine", emo), ("render", render)):
        part = (c.wall * share if name != "render" else c.wall) / mr_wall
        print(f"    share {name:16s} {100 * part:5.1f} %")
    paste = next(c for k, c in times.items() if k.startswith("paste-back"))
    full = mr_wall + paste.wall
    print(f"  with paste-back at {res['size'][1]}x{res['size'][0]}: {n / full:6.1f} fps wall "
          f"(paste-back alone {n / paste.wall:6.1f} fps)")


def process_floor() -> dict:
    """Interpreter start + the CLI's imports (``eamm generate --help``): the part of any run that
    no cache can remove."""
    env = job_env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eamm_core", "generate", "--help"], env=env, capture_output=True, check=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def report_jobs(pairs: list[tuple[dict, dict]], floor: dict) -> None:
    face = str(pairs[0][0]["face"])
    target_ratio = TARGET_RATIO.get(face, DEFAULT_RATIO)
    print(f"\n== whole job on the 7 s sample at {face}x{face} (eamm generate, fresh process)")
    ratios = []
    for k, (first, second) in enumerate(pairs, 1):
        for name, r in ((f"#{k} first run (empty cache)", first), (f"#{k} only strength changed", second)):
            print(f"  {name:29s} wall {r['wall']:6.2f} s   cpu {r['cpu']:6.2f} s"
                  f"   peak RSS (job processes) {r['rss_mb']:6.0f} MB   cached: {', '.join(r['cached']) or 'none'}")
            print(f"    stages (wall s): {r['timings']}")
        ratios.append((first["wall"] / second["wall"], first["cpu"] / second["cpu"]))
        print(f"  #{k} alpha-only rerun faster by {ratios[-1][0]:.2f}x wall, {ratios[-1][1]:.2f}x cpu "
              f"(target {target_ratio:.0f}x)")
    first = pairs[0][0]
    print(f"  process floor (interpreter + CLI imports): wall {floor['wall']:.2f} s, cpu {floor['cpu']:.2f} s")
    job_target = TARGET_JOB_S.get(face)
    verdict = (f"target < {job_target:.0f} s; {'met' if first['wall'] < job_target else 'missed'}"
               if job_target else "no target at this size")
    print(f"  whole job: {first['wall']:.2f} s wall ({verdict}); peak RSS of the job processes "
          f"{max(r['rss_mb'] for p in pairs for r in p):.0f} MB")
    wall = float(np.median([r[0] for r in ratios]))
    cpu = float(np.median([r[1] for r in ratios]))
    print(f"  first run / alpha-only rerun (median of {len(ratios)}): {wall:.2f}x wall, {cpu:.2f}x cpu "
          f"(target {target_ratio:.0f}x; {'met' if wall >= target_ratio else 'missed'} in wall time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=None, help="render only the first N frames in part 1")
    parser.add_argument("--keep", type=Path, default=None, help="keep the job outputs in this folder")
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--skip-jobs", action="store_true", help="only part 1")
    parts.add_argument("--jobs-only", action="store_true", help="only part 2 (the eamm generate pairs)")
    parser.add_argument("--pairs", type=int, default=2, help="first run + alpha-only rerun pairs (default 2)")
    parser.add_argument("--emotion", type=Path, default=EMOTION,
                        help="the jobs' emotion (default the preset samples/happy.npz; a clip such as "
                             "../shared/fixtures/emotion/happy.mp4 makes the first run prepare it)")
    parser.add_argument("--size", default="256", choices=["auto", "256", "512", "1024", "2048"],
                        help="face resolution (default 256)")
    parser.add_argument("--portrait", type=Path, default=PORTRAIT, help="portrait (default samples/astronaut.png)")
    args = parser.parse_args()
    PORTRAIT_USED[0] = args.portrait
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    if not args.jobs_only:
        report_stages(engine_stages(args.frames, args.size))
        print(f"  peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.skip_jobs:
        return
    warm_bytecode()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="eamm-bench-") as tmp:
        root = args.keep or Path(tmp)
        for k in range(max(1, args.pairs)):
            cache = Path(tmp) / f"cache{k}"  # a new, empty cache folder: the first run computes everything
            first = cli_job(root / f"first{k}", cache, 1.0, args.emotion, args.size)
            pairs.append((first, cli_job(root / f"second{k}", cache, 0.5, args.emotion, args.size)))
        floor = process_floor()
    print(f"\njobs' emotion: {args.emotion}")
    report_jobs(pairs, floor)
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
