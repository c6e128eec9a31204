"""Stills for docs/engine-landmark.md: each fixture portrait at α=0 and α=1 with the happy and sad clips.

    python scripts/make_landmark_stills.py [--frame 20] [--out docs/img]

Runs the real pipeline (landmark engine, seed 0, no blinks) on ``speech_7s.wav`` for one frame per
job and writes ``docs/img/landmark_<portrait>.png``: three 192 px panels, α=0 | happy α=1 | sad α=1.
Needs ``../shared/fixtures`` beside the checkout.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import imageio.v3 as iio  # noqa: E402
import numpy as np  # noqa: E402

from eamm_core.job import JobSpec  # noqa: E402
from eamm_core.pipeline import run_job  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures"
PORTRAITS = ("21.png", "60.png", "7.png", "paint1.jpg")
PANELS = (("alpha 0", None, 0.0), ("happy, alpha 1", "happy.mp4", 1.0), ("sad, alpha 1", "sad.mp4", 1.0))
PANEL = 192
log = logging.getLogger("make_landmark_stills")


def render_one(portrait: Path, emotion: Path | None, alpha: float, frame: int, work: Path) -> np.ndarray:
    spec = JobSpec(portrait=portrait, audio=FIXTURES / "audio" / "speech_7s.wav", emotion=emotion,
                   strength=alpha, seed=0, blink=False, frame_start=frame, frame_end=frame + 1, write_mp4=False)
    out = work / f"{portrait.stem}_{emotion.stem if emotion else 'none'}_{alpha}"
    result = run_job(spec, out, cache_dir=work / "cache", resume=False)
    return iio.imread(result.frames_dir / f"frame_{frame:06d}.png")[..., :3]


def labelled(img: np.ndarray, text: str) -> np.ndarray:
    small = cv2.resize(img, (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    cv2.rectangle(small, (0, PANEL - 18), (PANEL, PANEL), (0, 0, 0), -1)
    cv2.putText(small, text, (5, PANEL - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return small


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=int, default=20, help="25 fps frame of the speech to show")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not FIXTURES.is_dir():
        log.error("the shared fixtures are not at %s", FIXTURES)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in PORTRAITS:
            panels = []
            for label, clip, alpha in PANELS:
                emotion = None if clip is None else FIXTURES / "emotion" / clip
                panels.append(labelled(render_one(FIXTURES / "portraits" / name, emotion, alpha, args.frame,
                                                  Path(tmp)), label))
            path = args.out / f"landmark_{Path(name).stem}.png"
            iio.imwrite(path, np.concatenate(panels, axis=1), optimize=True)
            log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
