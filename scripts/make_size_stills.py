"""Stills of full-resolution paste-back for docs/engine-landmark.md ("Face resolution").

For every fixture portrait and an uncropped 807x1000 photo (frame 70 of the real talking clip,
cut to portrait format): frame 45 of ``speech_7s.wav`` (seed 0, no blinks, size auto) pasted
back, then a 3x nearest-neighbour zoom of the photo and of the pasted frame where the blend mask
ends (the jaw line and cheek on the subject's right), so a seam would show. Needs ../shared.

    python scripts/make_size_stills.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURES = REPO.parent / "shared" / "fixtures"
FRAME = 45


def hd_portrait(folder: Path) -> Path:
    cap = cv2.VideoCapture(str(FIXTURES / "talking" / "M030_sad_3_001.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 70)
    ok, frame = cap.read()
    if not ok:
        raise SystemExit("cannot read frame 70 of the talking clip")
    path = folder / "photo807.png"
    cv2.imwrite(str(path), frame[80:1080, 534:1341])
    return path


def pasted_frame(portrait: Path, work: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    import json

    from eamm_core.job import JobSpec
    from eamm_core.pipeline import run_job

    spec = JobSpec(portrait=portrait, audio=FIXTURES / "audio" / "speech_7s.wav", seed=0, blink=False,
                   paste_back=True, frame_start=FRAME, frame_end=FRAME + 1, write_mp4=False)
    result = run_job(spec, work / portrait.stem, cache_dir=work / "cache")
    pasted = cv2.imread(str(result.out_dir / "pasted" / f"frame_{FRAME:06d}.png"))
    return cv2.imread(str(portrait)), pasted, json.loads(result.manifest.read_text())["frame_size"]


def zoom_strip(photo: np.ndarray, pasted: np.ndarray, portrait: Path) -> np.ndarray:
    """Photo | pasted, full (scaled to 360 px high), then the jaw-line region of both at 3x."""
    from eamm_core.prepare.portrait import load_portrait

    lm = load_portrait(portrait).source_landmarks_px
    face_w = float(np.ptp(lm[:17, 0]))
    cx, cy = lm[3]  # the jaw line on the subject's right, where the mask's feather runs
    half = int(round(0.18 * face_w))
    h, w = photo.shape[:2]
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, w)), int(min(cy + half, h))
    k = 3
    zooms = [cv2.resize(im[y0:y1, x0:x1], None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST) for im in (photo, pasted)]
    zh = zooms[0].shape[0]
    fulls = [cv2.resize(im, (int(round(w * zh / h)), zh), interpolation=cv2.INTER_AREA) for im in (photo, pasted)]
    gap = np.full((zh, 6, 3), 255, np.uint8)
    return np.hstack([fulls[0], gap, fulls[1], gap, zooms[0], gap, zooms[1]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="eamm-size-") as tmp:
        work = Path(tmp)
        portraits = [FIXTURES / "portraits" / n for n in ("21.png", "60.png", "7.png", "paint1.jpg")]
        for portrait in [hd_portrait(work)] + portraits:
            photo, pasted, size = pasted_frame(portrait, work)
            out = args.out / f"size_{portrait.stem}.png"
            cv2.imwrite(str(out), zoom_strip(photo, pasted, portrait))
            print(f"{out}: frames {size['output']} px (span {size['crop_span_px']} px)")


if __name__ == "__main__":
    main()
