"""``eamm prepare``: write what the model will get, for an artist to look at (docs/inputs.md)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from eamm_core.cli.job_options import add_job_arguments, job_arguments
from eamm_core.errors import EammError

log = logging.getLogger("eamm.prepare")

STRIP_FRAMES = 8
#: landmark groups (first index, last index exclusive, closed outline) for the overlay
GROUPS = ((0, 17, False), (17, 22, False), (22, 27, False), (27, 31, False), (31, 36, False),
          (36, 42, True), (42, 48, True), (48, 60, True), (60, 68, True))


#: the job fields the prepare stages read (their options are the same as eamm generate's)
PREPARE_FIELDS = ("portrait", "audio", "emotion", "emotion_neutral", "pose", "face_index", "landmarks", "seed",
                  "smooth_pose")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("prepare", help="prepare the inputs and write them for inspection",
                              description="Read the portrait, speech, emotion clip and pose, and write the "
                                          "crop, landmarks, emotion frames, MFCC windows, pose and a summary.")
    add_job_arguments(p, only=PREPARE_FIELDS)
    p.add_argument("--out", type=Path, required=True, help="folder to write into (created)")
    p.set_defaults(func=run)


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray | None = None,
                   scale: int = 2) -> np.ndarray:
    """The crop enlarged ``scale`` times with landmark outlines (green) and the template (red)."""
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    canvas = np.ascontiguousarray(big)
    pts = np.round((np.asarray(landmarks, np.float64) + 0.5) * scale - 0.5).astype(np.int32)
    if template is not None:
        for x, y in np.round((template + 0.5) * scale - 0.5).astype(np.int32):
            cv2.drawMarker(canvas, (int(x), int(y)), (255, 60, 60), cv2.MARKER_CROSS, 6, 1)
    for start, stop, closed in GROUPS:
        cv2.polylines(canvas, [pts[start:stop].reshape(-1, 1, 2)], closed, (60, 220, 60), 1, cv2.LINE_AA)
    for x, y in pts:
        cv2.circle(canvas, (int(x), int(y)), 2, (255, 255, 0), -1, cv2.LINE_AA)
    return canvas


def emotion_strip(clip, count: int = STRIP_FRAMES) -> np.ndarray:
    """Aligned frames (top row) above the augmented frames the network reads (bottom row)."""
    idx = _strip_indices(clip, count)
    top = np.concatenate([clip.aligned[i] for i in idx], axis=1)
    bottom = np.concatenate([clip.augmented[i] for i in idx], axis=1)
    return np.concatenate([top, bottom], axis=0)


def _strip_indices(clip, count: int = STRIP_FRAMES) -> np.ndarray:
    return np.unique(np.linspace(0, len(clip) - 1, min(count, len(clip))).round().astype(int))


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise EammError(f"could not write {path}: check that the folder is writable")


def write_outputs(prep, out: Path, args: argparse.Namespace) -> dict:
    """Write every artefact of ``prep`` (a :class:`~eamm_core.stages.PreparedInputs`) into ``out``;
    returns the summary."""
    from eamm_core.prepare.faces import load_template

    crop, audio, pose, emotion = prep.crop, prep.audio, prep.pose, prep.emotion
    _write_png(out / "crop.png", crop.image)
    _write_png(out / "crop_landmarks.png", draw_landmarks(crop.image, crop.landmarks_px, load_template()))
    np.save(out / "mfcc_windows.npy", audio.windows)
    np.save(out / "pose.npy", pose.values)
    np.save(out / "loudness.npy", audio.loudness)
    files = ["crop.png", "crop_landmarks.png", "mfcc_windows.npy", "pose.npy", "loudness.npy"]
    summary = {
        "frame_count": audio.num_frames, "fps": 25, "duration_s": round(audio.duration_s, 4),
        "portrait": {"file": str(args.portrait), "size": list(crop.original.shape[1::-1]),
                     "face_box": list(crop.face_box)},
        "audio": {"file": str(args.audio), "samples_16k": int(len(audio.samples))},
        "pose": {"source": pose.source, "file": str(args.pose) if args.pose else None},
        "emotion": None, "neutral": None, "seed": args.seed, "landmarks": args.landmarks,
        "warnings": list(prep.warnings),
    }
    if emotion is not None and hasattr(emotion, "augmented"):
        _write_png(out / "emotion_strip.png", emotion_strip(emotion))
        files.append("emotion_strip.png")
        summary["emotion"] = {"file": str(args.emotion), "frames": len(emotion),
                              "source_frames_used": int(len(np.unique(emotion.source_index)))}
    elif emotion is not None:
        summary["emotion"] = {"file": str(args.emotion), "preset": emotion.name}
    if prep.neutral is not None:  # read as a job reads it: aligned, not augmented
        top = np.concatenate([prep.neutral.aligned[i] for i in _strip_indices(prep.neutral)], axis=1)
        _write_png(out / "neutral_strip.png", top)
        files.append("neutral_strip.png")
        summary["neutral"] = {"file": str(args.emotion_neutral), "frames": len(prep.neutral),
                              "source_frames_used": int(len(np.unique(prep.neutral.source_index)))}
    summary["files"] = files + ["summary.json"]
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def run(args: argparse.Namespace) -> int:
    from eamm_core.job import JobSpec
    from eamm_core.stages import prepare_inputs

    job = job_arguments(args)
    if job["emotion"] is not None:  # a bundled preset's name, as eamm generate takes it
        from eamm_core.presets import resolve_emotion

        job["emotion"] = resolve_emotion(job["emotion"])
    spec = JobSpec(**job)
    prep = prepare_inputs(spec)
    for warning in prep.warnings:
        log.warning("warning: %s", warning)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EammError(f"cannot create the output folder {args.out}: {exc.strerror}") from None
    summary = write_outputs(prep, args.out, args)
    log.info("prepared %d frames (%.2f s) into %s", summary["frame_count"], summary["duration_s"], args.out)
    return 0
