"""Fit the MediaPipe-mesh -> iBUG-68 index map (eamm_core/data/mediapipe_to_68.csv).

Both landmark models run on every 3rd frame of the MEAD clips in ``../shared/fixtures`` (emotion
clips and the talking clip: four actors, none of them a fixture portrait, so the portrait test
checks the map on faces it was not fitted on). In each frame both point sets are put in dlib's
face frame (eye centres, inter-ocular distance 1). For each of dlib's 68 points the map takes the
mesh vertex, or the point on the segment between two of its 8 nearest mesh vertices (weights in
steps of 0.1), with the smallest mean distance to dlib's point over all frames; the 10 iris points
are never used (they follow the gaze, dlib's points do not).

    python scripts/fit_mediapipe_map.py            # writes eamm_core/data/mediapipe_to_68.csv
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIPS = ("emotion/happy.mp4", "emotion/sad.mp4", "emotion/disgusted.mp4", "talking/M030_sad_3_001.mp4")
STEP = 3
NEAREST = 8
IRIS = slice(468, 478)


def _unit(points: np.ndarray, dlib68: np.ndarray) -> np.ndarray:
    """Points in dlib's face frame: origin between the eye centres, inter-ocular distance 1, eyes level."""
    r, l_ = dlib68[36:42].mean(0), dlib68[42:48].mean(0)
    d = l_ - r
    iod = float(np.hypot(*d))
    c, s = d / iod
    rot = np.array([[c, s], [-s, c]])
    return (points - (r + l_) / 2) @ rot.T / iod


def collect(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    from eamm_core.prepare.landmark_models import landmarker
    from eamm_core.prepare.video import iter_frames

    dl, mp = landmarker("dlib68"), landmarker("mediapipe478")
    ours, theirs = [], []
    for name in CLIPS:
        for i, (_, frame) in enumerate(iter_frames(shared / "fixtures" / name, 25.0, None)):
            if i % STEP:
                continue
            faces_d = dl.detect(frame)
            boxes = mp.detect_boxes(frame)
            mesh = mp.dense(frame, boxes[0]) if boxes else None
            if not faces_d or mesh is None:
                continue
            ours.append(_unit(mesh, faces_d[0].landmarks))
            theirs.append(_unit(faces_d[0].landmarks, faces_d[0].landmarks))
        logging.info("%s: %d frames so far", name, len(ours))
    return np.stack(ours), np.stack(theirs)


def fit(mesh: np.ndarray, dlib68: np.ndarray) -> list[tuple[int, int, float, float]]:
    rows = []
    weights = np.round(np.arange(0.0, 0.51, 0.1), 2)
    for i in range(68):
        target = dlib68[:, i]  # [N,2]
        single = np.linalg.norm(mesh - target[:, None], axis=2).mean(0)  # [478]
        single[IRIS] = np.inf  # the iris points move with the gaze, the lids and corners must not
        near = np.argsort(single)[:NEAREST]
        best = (float(single[near[0]]), int(near[0]), int(near[0]), 0.0)
        for a, b in itertools.permutations(near, 2):
            for w in weights[1:]:
                err = float(np.linalg.norm((1 - w) * mesh[:, a] + w * mesh[:, b] - target, axis=1).mean())
                if err < best[0]:
                    best = (err, int(a), int(b), float(w))
        rows.append((best[1], best[2], best[3], best[0]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--out", type=Path, default=ROOT / "eamm_core" / "data" / "mediapipe_to_68.csv")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mesh, dlib68 = collect(args.shared)
    rows = fit(mesh, dlib68)
    lines = ["# MediaPipe face mesh (478 points) -> iBUG 68 points: point i = (1-w)*mesh[a] + w*mesh[b]",
             f"# fitted by scripts/fit_mediapipe_map.py on {len(mesh)} frames of {', '.join(CLIPS)};",
             "# last column: mean distance to dlib's point on those frames, inter-ocular units",
             "# i,a,b,w,fit_error"]
    lines += [f"{i},{a},{b},{w:.1f},{err:.4f}" for i, (a, b, w, err) in enumerate(rows)]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errs = np.array([r[3] for r in rows])
    logging.info("wrote %s: mean fit error %.4f IOD, worst %.4f (point %d)", args.out, errs.mean(), errs.max(),
                 int(errs.argmax()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
