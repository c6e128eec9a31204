"""``eamm assemble OUT``: a farm's last step: check the frames, encode the MP4, write the manifest."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "assemble", help="finish a shot rendered in chunks: check the frames, encode the MP4, write the manifest",
        description="The last step of a shot split into farm tasks (docs/farm.md): holding OUT exclusively, "
                    "checks that every frame of OUT/job.json's job is there, encodes result.mp4 with the audio "
                    "and writes manifest.json 'done'. Missing frames: one line naming them, exit code 2.")
    p.add_argument("out", type=Path, help="the shot's output folder (holding job.json from the motion step)")
    p.add_argument("--wait", action="store_true", help="wait while another run uses OUT instead of failing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eamm_core.chunks import assemble

    t0 = time.perf_counter()
    res = assemble(args.out, wait=args.wait)
    where = f"MP4 {res.mp4}" if res.mp4 else f"frames in {res.frames_dir}"
    sys.stdout.write(f"assembled {res.frame_count} frames in {time.perf_counter() - t0:.1f} s; {where}\n")
    return 0
