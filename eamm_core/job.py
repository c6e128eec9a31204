"""What a job is, independent of who runs it (CLI, server, farm script).

The CLI, ``eamm-server`` and the add-on all describe a job with :class:`JobSpec`; the pipeline
(:func:`eamm_core.pipeline.run_job`) runs it and reports :class:`Progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eamm_core.prepare.landmark_models import DEFAULT_LANDMARKS

STAGES = ("prepare", "motion", "render", "encode", "done")


@dataclass(frozen=True)
class JobSpec:
    """Everything that determines a job's frames.

    strength: one number or a per-frame array (25 fps, length T; shorter arrays hold their last
    value). pose: a file (3DDFA .npy, [T,6] .npy/.csv, a video or a keyed curve) or a [T,6] array, or
    None; keyed curves in artist units are always absolute (see ``pose_absolute``).
    emotion: a video, a folder of frames or an emotion preset file (.npz), or None (neutral).
    frame_start/frame_end: the half-open range of 25 fps frames to render (None = to the end).
    """

    portrait: Path
    audio: Path
    emotion: Path | None = None
    emotion_neutral: Path | None = None
    pose: Path | np.ndarray | None = None
    strength: float | np.ndarray = 1.0
    engine: str = "landmark"
    model_dir: Path | None = None
    seed: int = 0
    paste_back: bool = False
    blink: bool = True
    idle_motion: bool = False
    transcript: str | None = None
    face_index: int | None = None
    frame_start: int = 0
    frame_end: int | None = None
    write_mp4: bool = True
    device: str = "auto"
    precision: str = "fp32"
    smooth_pose: bool = False
    #: pose values are absolute targets (artist units: scale 1 = the portrait's own size, offset 0 = where
    #: it is), not relative to the first frame as a tracked pose from a file or video is
    pose_absolute: bool = False
    #: the face landmark model of every stage that finds faces (eamm_core.prepare.landmark_models)
    landmarks: str = DEFAULT_LANDMARKS


@dataclass(frozen=True)
class Progress:
    """A progress report: ``stage`` one of :data:`STAGES`, ``done``/``total`` frames of that stage."""

    stage: str
    done: int
    total: int
    message: str = ""


@dataclass
class JobResult:
    out_dir: Path
    frames_dir: Path
    frame_count: int
    first_frame: int
    mp4: Path | None
    manifest: Path
    warnings: list[str] = field(default_factory=list)
    cancelled: bool = False
    cached_stages: list[str] = field(default_factory=list)
    #: with an emotion: the neutral reference the engine measured it against (one line), if it says
    emotion_reference: str | None = None


ProgressCallback = Callable[[Progress], None]
