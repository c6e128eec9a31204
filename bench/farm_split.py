"""A shot split into farm tasks vs one process (docs/benchmarks.md, farm_split).

One ``eamm generate`` of a 60 s shot, against the same shot as separate processes, as an OpenJD
runner starts them: ``--stage motion``, then one ``--stage render --frames A-B`` per chunk (run one
after another here), then ``eamm assemble``. Each starts with an empty stage cache of its own kind
(the motion step fills the farm's). Prints each part's wall time, the serial fraction (motion +
assemble over the farm's total) and the speed-up Amdahl's law allows with N workers (chunks spread
evenly; each worker a machine like this one). A 2-core machine cannot show a real multi-machine
speed-up: the figures for N > 1 are that law's projection, not a measurement.

    .venv/bin/python bench/farm_split.py [--seconds 60] [--chunk 300] [--openjd]

``--openjd``: each farm part runs as its own OpenJD session of farm/openjd/eamm_generate.yaml
(``openjd run --step Motion``, ``--step Render --tasks '[{"Frames": "A-B"}]'`` per chunk,
``--step Assemble``), so the times include the OpenJD runtime's own start and session setup.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.io import wavfile

REPO = Path(__file__).resolve().parents[1]
EAMM = [sys.executable, "-m", "eamm_core"]
BIN = Path(sys.executable).parent
TEMPLATE = REPO / "farm" / "openjd" / "eamm_generate.yaml"


def make_clip(folder: Path, seconds: float) -> Path:
    sr, x = wavfile.read(REPO / "samples" / "speech.wav")
    path = folder / f"speech_{seconds:g}s.wav"
    wavfile.write(path, sr, np.tile(x, math.ceil(seconds * sr / len(x)))[: int(seconds * sr)])
    return path


def timed(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr}")
    return seconds, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--chunk", type=int, default=300, help="frames per render task")
    ap.add_argument("--openjd", action="store_true", help="run the farm parts as OpenJD sessions (openjd run)")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="eamm-farm-bench-") as tmp:
        tmp = Path(tmp)
        audio = make_clip(tmp, opts.seconds)
        common = ["--portrait", str(REPO / "samples" / "astronaut.png"), "--audio", str(audio),
                  "--emotion", "happy", "--strength", "0.8", "--quiet"]
        one, _ = timed([*EAMM, "generate", *common, "--out", str(tmp / "one"), "--cache-dir", str(tmp / "c1")])
        upper = math.ceil(opts.seconds * 25) + 1  # the template's FrameCount: at least the shot's frames
        parts = openjd_parts(tmp, audio, upper) if opts.openjd else cli_parts(tmp, common)
        motion, _ = timed(parts("motion"))
        count = json.loads((tmp / "farm" / "job.json").read_text())["frame_count"]
        chunks = [timed(parts("render", f"{a}-{min(a + opts.chunk, count) - 1}"))[0]
                  for a in range(0, count, opts.chunk)]
        assemble, _ = timed(parts("assemble"))
        if json.loads((tmp / "farm" / "manifest.json").read_text())["frame_count"] != count:
            sys.exit("the farm's frame count differs from the shot's")
        same = all((tmp / "one" / "frames" / p.name).read_bytes() == p.read_bytes()
                   for p in (tmp / "farm" / "frames").glob("frame_*.png"))
    report(opts, count, one, motion, chunks, assemble, same)


def cli_parts(tmp: Path, common: list[str]):
    farm = [*common, "--out", str(tmp / "farm"), "--cache-dir", str(tmp / "c2")]

    def args(step: str, frames: str = "") -> list[str]:
        if step == "assemble":
            return [*EAMM, "assemble", str(tmp / "farm")]
        return [*EAMM, "generate", *farm, "--stage", step, *(["--frames", frames] if frames else [])]
    return args


def openjd_parts(tmp: Path, audio: Path, frame_count: int):
    params = {"Portrait": REPO / "samples" / "astronaut.png", "Audio": audio, "Emotion": "happy", "Strength": "0.8",
              "OutputDir": tmp / "farm", "FrameCount": frame_count, "EammCommand": BIN / "eamm", "CacheDir": tmp / "c2"}
    plist = [x for k, v in params.items() for x in ("-p", f"{k}={v}")]

    def args(step: str, frames: str = "") -> list[str]:
        tasks = ["--tasks", json.dumps([{"Frames": frames}])] if frames else []
        return [str(BIN / "openjd"), "run", str(TEMPLATE), "--step", step.capitalize(), *tasks, *plist]
    return args


def report(opts, count: int, one: float, motion: float, chunks: list[float], assemble: float, same: bool) -> None:
    serial = motion + assemble
    total = serial + sum(chunks)
    fraction = serial / total
    how = "OpenJD sessions (openjd run)" if opts.openjd else "processes"
    print(f"farm parts as {how}")
    print(f"shot: {opts.seconds:g} s, {count} frames; {len(chunks)} chunks of {opts.chunk} frames; "
          f"frames byte-identical to one process: {same}")
    print(f"one process (eamm generate):          {one:7.2f} s")
    print(f"motion step:                          {motion:7.2f} s")
    print(f"render chunks (one after another):    {sum(chunks):7.2f} s  "
          f"(each {min(chunks):.2f}-{max(chunks):.2f} s)")
    print(f"assemble:                             {assemble:7.2f} s")
    print(f"farm split total on one machine:      {total:7.2f} s  ({total / one:.2f}x one process)")
    print(f"serial fraction (motion + assemble):  {fraction:7.3f}")
    print("workers  Amdahl speed-up (vs split on 1)  projected wall s  vs one process   (projection, not measured)")
    for n in (1, 2, 4, 8, 16):
        per_worker = math.ceil(len(chunks) / n) * (sum(chunks) / len(chunks))  # whole chunks per worker
        wall = serial + per_worker
        print(f"{n:7d}  {1 / (fraction + (1 - fraction) / n):30.2f}  {wall:16.2f}  {one / wall:14.2f}x")
    print(f"    inf  {1 / fraction:30.2f}  {serial:16.2f}  {one / serial:14.2f}x")


if __name__ == "__main__":
    main()
