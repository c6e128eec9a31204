"""Time each prepare stage on the 7 s sample, against a reference-style baseline run in the same process.

    python bench/prepare_speed.py [--shared ../shared] [--repeat 3] [--append docs/benchmarks.md]

Inputs: ``fixtures/audio/speech_7s.wav`` (175 frames), ``fixtures/portraits/60.png`` and
``fixtures/emotion/happy.mp4``. The baseline does what the reference demo does (librosa.load +
python_speech_features + a Python window loop; cv2.imread + dlib + skimage SimilarityTransform/warp;
imageio frame reading + skimage resize + dlib + skimage warp per frame), so the printed ratios say
how our stages compare on the same machine at the same moment. Each figure is the best of
``--repeat`` runs (wall clock, seconds).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_common import best_of


def reference_audio(path: Path) -> np.ndarray:
    import librosa
    from python_speech_features import mfcc

    speech, _ = librosa.load(str(path), sr=16000)
    speech = np.append(np.insert(speech, 0, np.zeros(1920)), np.zeros(1920))
    rows = mfcc(speech, 16000, winstep=0.01)
    return np.stack([rows[4 * k: 4 * k + 28, 1:] for k in range(len(rows) // 4 - 6)]).astype(np.float32)


def reference_portrait(path: Path, detector, predictor, template: np.ndarray) -> np.ndarray:
    import cv2
    from skimage import transform as tf

    img = cv2.imread(str(path))
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    rect = detector(gray, 1)[0]
    shape = np.array([(p.x, p.y) for p in predictor(gray, rect).parts()], float)
    tform = tf.SimilarityTransform()
    tform.estimate(template[:47], shape[:47])
    return (tf.warp(img, tform, output_shape=(256, 256)) * 255).astype(np.uint8)


def reference_emotion(path: Path, detector, predictor, template: np.ndarray, frames: int) -> np.ndarray:
    import imageio.v2 as imageio
    from skimage import transform as tf
    from skimage.transform import resize

    out = []
    reader = imageio.get_reader(str(path))
    for i, frame in enumerate(reader):
        if i >= frames:
            break
        small = (resize(frame, (256, 256)) * 255).astype(np.uint8)
        rects = detector(small, 1)
        if rects:
            shape = np.array([(p.x, p.y) for p in predictor(small, rects[0]).parts()], float)
        tform = tf.SimilarityTransform()
        tform.estimate(template[:35], shape[:35])
        out.append(tf.warp(small, tform, output_shape=(256, 256)))
    reader.close()
    return np.stack(out)


def ours(shared: Path, repeat: int, frames: int) -> dict[str, float]:
    from eamm_core.prepare.audio import compute_mfcc, decode_audio, frame_loudness, mfcc_windows
    from eamm_core.prepare.emotion import align_clip, augment_clip
    from eamm_core.prepare.faces import FaceLandmarker, align_to_template, warp_to_crop
    from eamm_core.prepare.image_io import read_image
    from eamm_core.prepare.pose import load_pose

    fx = shared / "fixtures"
    wav, png, clip = fx / "audio" / "speech_7s.wav", fx / "portraits" / "60.png", fx / "emotion" / "happy.mp4"
    lm = FaceLandmarker.shared()
    samples = decode_audio(wav)
    rows = compute_mfcc(samples)
    rgb, _ = read_image(png)
    face = lm.detect(rgb)[0]
    aligned = align_clip(clip, frames)[0]
    return {
        "audio: decode to 16 kHz mono": best_of(lambda: decode_audio(wav), repeat),
        "audio: MFCC rows": best_of(lambda: compute_mfcc(samples), repeat),
        "audio: windows + loudness": best_of(lambda: (mfcc_windows(rows), frame_loudness(samples, frames)), repeat),
        "portrait: read image": best_of(lambda: read_image(png), repeat),
        "portrait: detect + 68 landmarks": best_of(lambda: lm.detect(rgb), repeat),
        "portrait: align + warp crop": best_of(lambda: warp_to_crop(rgb, align_to_template(face.landmarks)), repeat),
        "pose: load 93-row 3DDFA file, ping-pong to 175": best_of(
            lambda: load_pose(fx / "pose" / "pose_sequence_93.npy", frames, smooth=True), repeat),
        "emotion: read + detect + align (175 frames)": best_of(lambda: align_clip(clip, frames), 1),
        "emotion: augmentation (175 frames)": best_of(lambda: augment_clip(aligned, 0), repeat),
    }


def totals(shared: Path, repeat: int, frames: int) -> list[tuple[str, float, float]]:
    import dlib

    from eamm_core.prepare.audio import load_audio
    from eamm_core.prepare.emotion import load_emotion_clip
    from eamm_core.prepare.faces import dlib_model_path, load_template
    from eamm_core.prepare.portrait import load_portrait

    fx = shared / "fixtures"
    wav, png, clip = fx / "audio" / "speech_7s.wav", fx / "portraits" / "60.png", fx / "emotion" / "happy.mp4"
    det, pred = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(dlib_model_path()))
    tpl = load_template().astype(np.float64)
    return [
        ("audio total", best_of(lambda: load_audio(wav), repeat), best_of(lambda: reference_audio(wav), repeat)),
        ("portrait total", best_of(lambda: load_portrait(png), repeat),
         best_of(lambda: reference_portrait(png, det, pred, tpl), repeat)),
        ("emotion total (175 frames)", best_of(lambda: load_emotion_clip(clip, frames, seed=0), 1),
         best_of(lambda: reference_emotion(clip, det, pred, tpl, frames), 1)),
    ]


def report(stages: dict[str, float], total: list[tuple[str, float, float]], repeat: int) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["", f"## prepare_speed ({datetime.date.today().isoformat()}, {os.cpu_count()}-core CPU)", "",
             f"`python bench/prepare_speed.py --repeat {repeat}` on {platform.machine()} / Python "
             f"{platform.python_version()}; 7 s sample (`speech_7s.wav`, 175 frames), `portraits/60.png`, "
             "`emotion/happy.mp4`; best of the runs, seconds; load average "
             f"{load:.1f} when it ran (on a shared machine absolute figures are noisy; ratios come from the "
             "same run).", "",
             "| stage | ours (s) |", "|---|---|"]
    lines += [f"| {name} | {sec:.4f} |" for name, sec in stages.items()]
    lines += ["", "| total per input | ours (s) | reference-style baseline (s) | ours / baseline |", "|---|---|---|---|"]
    lines += [f"| {name} | {a:.3f} | {b:.3f} | {a / b:.2f} |" for name, a, b in total]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--append", type=Path, help="append the markdown section to this file")
    args = parser.parse_args()
    frames = 175
    stages = ours(args.shared, args.repeat, frames)
    total = totals(args.shared, args.repeat, frames)
    text = report(stages, total, args.repeat)
    print(text)
    if args.append:
        if not args.append.exists():
            args.append.write_text("# Benchmarks\n\nOne section per bench script (`bench/*.py`).\n", encoding="utf-8")
        with open(args.append, "a", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
