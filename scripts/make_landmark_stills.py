"""Stills for docs/engine-landmark.md: each fixture portrait at α=0 and α=1 with the happy and sad
clips, and open-mouth frames with 3x zooms of the mouth.

    python scripts/make_landmark_stills.py [--frame 20] [--out docs/img] [--only expressions|mouth]

Runs the real pipeline (landmark engine, seed 0, no blinks) on ``speech_7s.wav`` and writes

* ``docs/img/landmark_<portrait>.png``: one frame per job, three 192 px panels, α=0 | happy α=1 |
  sad α=1;
* ``docs/img/mouth_<portrait>.png``: the two most open-mouthed frames of the first 4 s (α=0; chosen
  by dlib's inner-lip gap on the output), each at full size (256 px) beside a 3x zoom of its mouth
  (nearest-neighbour: the pixels as rendered), then the most open frame on a tongue phone (T, D,
  N, L, TH: the engine's tongue visibility ≥ 0.6). Besides the fixture portraits, a black-and-white copy
  of ``7.png`` (made in a temporary folder) shows a grey picture's interior.

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

import cv2
import imageio.v3 as iio
import numpy as np

from eamm_core.job import JobSpec
from eamm_core.pipeline import run_job

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


MOUTH_FRAMES = 100
ZOOM, ZOOM_BOX = 3, (80, 48)  # 3x of an 80x48 px box around the mouth


def render_span(portrait: Path, frames: int, work: Path) -> np.ndarray:
    """The first ``frames`` frames of a job (α=0, seed 0, no blinks) on the speech [T,256,256,3]."""
    spec = JobSpec(portrait=portrait, audio=FIXTURES / "audio" / "speech_7s.wav", strength=0.0, seed=0,
                   blink=False, frame_start=0, frame_end=frames, write_mp4=False)
    result = run_job(spec, work / f"{portrait.stem}_span", cache_dir=work / "cache", resume=False)
    return np.stack([iio.imread(result.frames_dir / f"frame_{i:06d}.png")[..., :3] for i in range(frames)])


def speech_tongue(frames: int) -> np.ndarray:
    """The engine's per-frame tongue visibility on the speech (phones -> :mod:`tongue`)."""
    from eamm_core.engines.landmark.engine import LandmarkEngine
    from eamm_core.engines.landmark.tongue import tongue_track
    from eamm_core.prepare.audio import load_audio

    audio = load_audio(FIXTURES / "audio" / "speech_7s.wav")
    return tongue_track(LandmarkEngine().phones(audio), audio.num_frames)[:frames]


def widest_frames(frames: np.ndarray, count: int = 2, apart: int = 8,
                  tongue: np.ndarray | None = None) -> list[tuple[int, np.ndarray]]:
    """The ``count`` frames (at least ``apart`` frames apart) whose inner lips part widest, with
    their landmarks; with ``tongue``, then the widest frame whose tongue shows (visibility ≥ 0.6)."""
    sys.path.insert(0, str(REPO / "bench"))
    import quality_helpers as H

    lm = H.crop_landmarks(frames)
    gap = np.array([H.inner_gap(x) if np.isfinite(x).all() else -1.0 for x in lm])
    if tongue is not None:
        return [(int(i), lm[int(i)]) for i in [np.argmax(np.where(tongue >= 0.6, gap, -1.0))]]
    chosen: list[int] = []
    for i in np.argsort(-gap, kind="stable"):
        if all(abs(int(i) - j) >= apart for j in chosen):
            chosen.append(int(i))
        if len(chosen) == count:
            break
    return [(i, lm[i]) for i in sorted(chosen)]


def mouth_panel(frame: np.ndarray, lm: np.ndarray, label: str) -> np.ndarray:
    """The frame at full size beside a 3x zoom of its mouth, 256 px high."""
    cx, cy = np.round(lm[48:68].mean(0)).astype(int)
    bw, bh = ZOOM_BOX
    x0, y0 = int(np.clip(cx - bw // 2, 0, 256 - bw)), int(np.clip(cy - bh // 2, 0, 256 - bh))
    zoom = cv2.resize(frame[y0:y0 + bh, x0:x0 + bw], (bw * ZOOM, bh * ZOOM), interpolation=cv2.INTER_NEAREST)
    full = frame.copy()
    cv2.rectangle(full, (x0, y0), (x0 + bw, y0 + bh), (255, 255, 255), 1)
    side = np.zeros((256, bw * ZOOM, 3), np.uint8)
    side[(256 - bh * ZOOM) // 2:(256 - bh * ZOOM) // 2 + bh * ZOOM] = zoom
    cv2.putText(side, label, (5, 250), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([full, side], axis=1)


def mouth_stills(out: Path, work: Path) -> None:
    grey = work / "7_bw.png"
    iio.imwrite(grey, np.repeat(cv2.cvtColor(iio.imread(FIXTURES / "portraits" / "7.png")[..., :3],
                                             cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2))
    tongue = speech_tongue(MOUTH_FRAMES)
    for portrait in [FIXTURES / "portraits" / n for n in PORTRAITS] + [grey]:
        frames = render_span(portrait, MOUTH_FRAMES, work)
        panels = [mouth_panel(frames[i], lm, f"frame {i}, mouth x{ZOOM}") for i, lm in widest_frames(frames)]
        panels += [mouth_panel(frames[i], lm, f"frame {i}, tongue {tongue[i]:.1f}, x{ZOOM}")
                   for i, lm in widest_frames(frames, tongue=tongue)]
        path = out / f"mouth_{portrait.stem}.png"
        iio.imwrite(path, np.concatenate(panels, axis=0), optimize=True)
        log.info("wrote %s (%d bytes)", path, path.stat().st_size)


def labelled(img: np.ndarray, text: str) -> np.ndarray:
    small = cv2.resize(img, (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    cv2.rectangle(small, (0, PANEL - 18), (PANEL, PANEL), (0, 0, 0), -1)
    cv2.putText(small, text, (5, PANEL - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return small


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=int, default=20, help="25 fps frame of the speech to show")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--only", choices=("expressions", "mouth"), default=None, help="make one set of stills")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not FIXTURES.is_dir():
        log.error("the shared fixtures are not at %s", FIXTURES)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "expressions":
            mouth_stills(args.out, Path(tmp))
        if args.only == "mouth":
            return 0
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
