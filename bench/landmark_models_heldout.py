"""Held-out inputs through ``eamm generate --landmarks MODEL`` (issue 20): each must finish (exit 0)
with its frames, and the frame written is saved for a look.

Cases (made in a temporary folder from ../shared/fixtures; nothing is written to the repo):

* painting — ``paint1.jpg``;
* uncropped HD photo — ``60.png`` scaled 6x onto a 3840x2160 canvas, off centre;
* MP3 speech — ``speech_7s.wav`` encoded to MP3 with the bundled ffmpeg;
* 30 fps emotion clip — ``happy.mp4`` re-timed to 30 fps;
* turned head — ``21.png`` (its own yaw about 13 degrees) with a +15 degree yaw pose curve.

    .venv/bin/python bench/landmark_models_heldout.py [--landmarks mediapipe478] [--frames 25] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIX = REPO.parent / "shared" / "fixtures"


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_inputs(d: Path) -> dict[str, list[str]]:
    """Each case's extra ``eamm generate`` arguments (portrait, audio, emotion, pose)."""
    portrait60 = cv2.imread(str(FIX / "portraits" / "60.png"))
    canvas = np.full((2160, 3840, 3), 90, np.uint8)
    big = cv2.resize(portrait60, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    canvas[300:1836, 2000:3536] = big
    cv2.imwrite(str(d / "hd.png"), canvas)
    subprocess.run([_ffmpeg(), "-v", "error", "-y", "-i", str(FIX / "audio" / "speech_7s.wav"), str(d / "speech.mp3")],
                   check=True)
    subprocess.run([_ffmpeg(), "-v", "error", "-y", "-i", str(FIX / "emotion" / "happy.mp4"), "-r", "30",
                    str(d / "happy30.mp4")], check=True)
    (d / "yaw.csv").write_text("frame,yaw,pitch,roll,scale,offset_x,offset_y\n0,15,0,0,1,0,0\n200,15,0,0,1,0,0\n")
    wav = str(FIX / "audio" / "speech_7s.wav")
    return {
        "painting": ["--portrait", str(FIX / "portraits" / "paint1.jpg"), "--audio", wav, "--emotion", "happy"],
        "uncropped HD photo": ["--portrait", str(d / "hd.png"), "--audio", wav, "--paste-back"],
        "MP3 speech": ["--portrait", str(FIX / "portraits" / "7.png"), "--audio", str(d / "speech.mp3")],
        "30 fps emotion clip": ["--portrait", str(FIX / "portraits" / "60.png"), "--audio", wav,
                                "--emotion", str(d / "happy30.mp4")],
        "turned head": ["--portrait", str(FIX / "portraits" / "21.png"), "--audio", wav, "--pose", str(d / "yaw.csv")],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--landmarks", default="mediapipe478")
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--keep", type=Path, default=None, help="copy each case's last frame here")
    args = ap.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, extra in make_inputs(d).items():
            out = d / name.replace(" ", "_")
            cmd = [str(Path(sys.executable).parent / "eamm"), "generate", *extra, "--landmarks", args.landmarks,
                   "--frame-end", str(args.frames), "--no-mp4", "--no-cache", "--quiet", "--out", str(out)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            frames = sorted((out / "frames").glob("frame_*.png"))
            ok = proc.returncode == 0 and len(frames) == args.frames
            failed += not ok
            last = proc.stderr.strip().splitlines()[-1:] or [""]
            print(f"{'PASS' if ok else 'FAIL'} {name}: exit {proc.returncode}, {len(frames)} frames, "
                  f"{time.perf_counter() - t0:.1f} s; {last[0][:160]}")
            if args.keep and frames:
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / f"{out.name}.png").write_bytes(frames[-1].read_bytes())
    print(f"{args.landmarks}: {5 - failed}/5 held-out cases pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
