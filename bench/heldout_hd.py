"""Issue 16's held-out check: an uncropped 807x1000 photo, 4 s of MP3 speech, ``--paste-back``.

Inputs are made in a temporary folder from ``../shared/fixtures`` (nothing is written to the repo):
the photo is frame 70 of the real talking clip, columns 534-1340 and rows 80-1079 (a portrait-format
cut, the face about 880 px across); the speech is the first 4 s of ``speech_11s.wav`` encoded to MP3
with the bundled ffmpeg. ``eamm generate`` runs as an artist would (defaults, blinks on), then:

* **size**: every pasted frame is 807x1000;
* **detail**: variance of the Laplacian in the face box (the 68 points' box of the photo), pasted frame
  over photo, median and range over frames (target 0.7-1.3);
* **lips**: the pasted frames' inner-lip opening, measured by the bench's own detector (dlib's 68
  points, not the job's landmarks), against the speech's per-frame loudness: Pearson r at the best
  lag within +-2 frames (target >= 0.4);
* **identity**: dlib face-descriptor distance from the photo to each pasted frame (target < 0.6).

    .venv/bin/python bench/heldout_hd.py [--landmarks dlib68|mediapipe478] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
FIX = REPO.parent / "shared" / "fixtures"


def make_inputs(d: Path) -> tuple[Path, Path]:
    import imageio_ffmpeg

    from scripts.make_size_stills import hd_portrait  # the same photo as the docs' stills

    photo = hd_portrait(d)
    mp3 = d / "speech4s.mp3"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-t", "4",
                    "-i", str(FIX / "audio" / "speech_11s.wav"), str(mp3)], check=True)
    return photo, mp3


def laplacian_variance(rgb: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F).var())


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def measure(photo: Path, mp3: Path, out: Path) -> dict:
    import metrics as M
    from identity import FaceEmbedder, identity_distances

    from eamm_core.prepare.audio import load_audio
    from eamm_core.prepare.faces import FaceLandmarker

    source = read_rgb(photo)
    lmk = FaceLandmarker.shared()
    face = lmk.detect(source)[0]
    lo, hi = np.floor(face.landmarks.min(0)).astype(int), np.ceil(face.landmarks.max(0)).astype(int)
    box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    base = laplacian_variance(source, box)
    files = sorted((out / "pasted").glob("frame_*.png"))
    frames = [read_rgb(f) for f in files]
    sizes = {f.shape[:2] for f in frames}
    detail = np.array([laplacian_variance(f, box) / base for f in frames])
    lms = []
    for f in frames:
        found = lmk.detect(f)
        lms.append(found[0].landmarks if found else np.full((68, 2), np.nan))
    lms = np.stack(lms).astype(np.float64)
    opening = M.mouth_opening(lms)
    loud = np.asarray(load_audio(mp3).loudness, np.float64)[:len(frames)]
    best = max((_lagged_r(opening, loud, lag), lag) for lag in range(-2, 3))
    emb = FaceEmbedder()
    ident = identity_distances(emb, emb.embed(source), frames, lms)
    return {"frames": len(frames), "sizes": sorted(sizes), "face_box": box,
            "detail_median": float(np.median(detail)), "detail_min": float(detail.min()),
            "detail_max": float(detail.max()), "lip_r": best[0], "lip_lag": best[1],
            "identity_mean": ident.mean, "identity_worst": ident.worst, "identity_missing": ident.missing}


def _lagged_r(opening: np.ndarray, loud: np.ndarray, lag: int) -> float:
    """r between opening[t + lag] and loudness[t] over the frames both have (NaN frames left out)."""
    n = min(len(opening), len(loud))
    a, b = (opening[lag:n], loud[:n - lag]) if lag >= 0 else (opening[:n + lag], loud[-lag:n])
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--landmarks", default="dlib68")
    ap.add_argument("--keep", type=Path, help="keep inputs and output here instead of a temporary folder")
    args = ap.parse_args(argv)
    if not FIX.is_dir():
        print(f"bench: {FIX} is missing (the fixtures this check is made from)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        photo, mp3 = make_inputs(d)
        out = d / "out"
        subprocess.run([str(REPO / ".venv" / "bin" / "eamm"), "generate", "--portrait", str(photo), "--audio", str(mp3),
                        "--paste-back", "--landmarks", args.landmarks, "--quiet", "--no-cache", "--out", str(out)],
                       check=True)
        res = measure(photo, mp3, out)
        res["frame_size"] = json.loads((out / "manifest.json").read_text()).get("frame_size")
    print(json.dumps(res, indent=1))
    ok = (res["sizes"] == [(1000, 807)] and 0.7 <= res["detail_median"] <= 1.3 and res["lip_r"] >= 0.4
          and res["identity_worst"] < 0.6)
    print(f"held-out 807x1000 + MP3 ({args.landmarks}): {'all targets met' if ok else 'a target missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
