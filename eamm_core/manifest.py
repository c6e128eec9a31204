"""The job's manifest record (``manifest.json``): what was asked, with which inputs and versions.

The pipeline starts it before the first frame (state ``running``) and completes it at the end;
docs/cli.md lists its fields.
"""

from __future__ import annotations

import numpy as np

from eamm_core import MODEL_FPS
from eamm_core.job import JobSpec
from eamm_core.output import versions
from eamm_core.render.frame_size import FrameSize
from eamm_core.stages import StageKeys

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


def start_record(spec: JobSpec, keys: StageKeys, engine: dict, frame_size: FrameSize | None,
                 frame_range: tuple[int, int], alpha: np.ndarray, num_frames: int, started: str) -> dict:
    """The manifest of a job that is starting: its key, engine, inputs and parameters."""
    start, end = frame_range
    strength = float(alpha[0]) if np.ndim(spec.strength) == 0 else [round(float(a), 6) for a in alpha]
    return {
        "format": MANIFEST_FORMAT,
        "state": "running",
        "job_key": keys.job,
        "engine": engine,
        "seed": spec.seed,
        "inputs": inputs_record(spec, keys.hashes),
        "parameters": {"strength": strength, "strength_sha256": keys.hashes["strength"],
                       "paste_back": spec.paste_back, "blink": spec.blink, "idle_motion": spec.idle_motion,
                       "transcript": spec.transcript, "face_index": spec.face_index, "landmarks": spec.landmarks,
                       "smooth_pose": spec.smooth_pose, "device": spec.device, "precision": spec.precision},
        "fps": MODEL_FPS,
        "frame_size": frame_size.manifest() if frame_size else None,
        "audio_frames": num_frames,
        "frame_start": start,
        "frame_end": end,
        "frame_count": 0,
        "frames": "frames/frame_%06d.png",
        "pasted": "pasted/frame_%06d.png" if spec.paste_back else None,
        "mp4": None,
        "cache_keys": {"crop": keys.crop, "audio": keys.audio, "motion": keys.motion, "emotion": keys.emotion},
        "cached_stages": [],
        "versions": versions(),
        "started": started,
    }


def inputs_record(spec: JobSpec, hashes: dict) -> dict:
    """The job's input files (path and content hash) as the manifest records them."""
    rec = {"portrait": {"path": str(spec.portrait), "sha256": hashes["portrait"]},
           "audio": {"path": str(spec.audio), "sha256": hashes["audio"]}}
    if spec.emotion is not None:
        rec["emotion"] = {"path": str(spec.emotion), "sha256": hashes["emotion"]}
    if spec.emotion_neutral is not None:
        rec["emotion_neutral"] = {"path": str(spec.emotion_neutral), "sha256": hashes["emotion_neutral"]}
    pose = spec.pose
    rec["pose"] = None if pose is None else {
        "path": None if isinstance(pose, np.ndarray) else str(pose), "hash": hashes["pose"]}
    return rec
