"""What a job is, independent of who runs it (CLI, server, farm script).

The CLI, ``eamm-server`` and the add-on all describe a job with :class:`JobSpec`; the pipeline
(:func:`eamm_core.pipeline.run_job`) runs it and reports :class:`Progress`.

:class:`JobSpec` is the one definition of a job's fields: each field's :class:`Option` (help text,
``eamm generate`` flags, the JSON name in ``POST /v1/jobs``, range or choices) is what
``eamm generate`` builds its options from (:mod:`eamm_core.cli.job_options`), what the server builds
its request schema from (``server/schemas.py``, pydantic) and how the server's ``spec.json`` is read
back (:func:`spec_from_record`). A new plain field (a number, a flag, a choice) is one entry here.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import NoneType, UnionType

import numpy as np

from eamm_core.engines.base import ENGINE_NAMES
from eamm_core.prepare.landmark_models import DEFAULT_LANDMARKS, LANDMARK_MODELS

STAGES = ("prepare", "motion", "render", "encode", "done")
#: what one ``eamm generate`` / ``POST /v1/jobs`` run does: the whole job, or a farm step (docs/farm.md)
RUN_STAGES = ("all", "motion", "render")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Option:
    """How a :class:`JobSpec` field is given by people and clients.

    help: one line (``eamm generate --help`` and the OpenAPI description). cli: the
    ``eamm generate`` flags, the first one the main one (() = not a command-line option; a bool whose
    default is True is given by a ``--no-...`` flag that turns it off). wire: the field's JSON name in
    ``POST /v1/jobs`` (None = not in the request). ge/le: the allowed range (command line and request);
    choices: the allowed values; max_length: the longest text a request may carry.
    """

    help: str
    cli: tuple[str, ...] = ()
    wire: str | None = None
    ge: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    max_length: int | None = None


def _opt(default=MISSING, **option):
    """A :class:`JobSpec` field with its :class:`Option` (``option``: the Option's fields)."""
    return field(default=default, metadata={"option": Option(**option)})


@dataclass(frozen=True)
class JobSpec:
    """Everything that determines a job's frames.

    strength: one number or a per-frame array (25 fps, length T; shorter arrays hold their last
    value). pose: a file (3DDFA .npy, [T,6] .npy/.csv, a video or a keyed curve) or a [T,6] array, or
    None; keyed curves in artist units are always absolute (see ``pose_absolute``).
    emotion: a video, a folder of frames or an emotion preset file (.npz), or None (neutral).
    frame_start/frame_end: the half-open range of 25 fps frames to render (None = to the end).
    """

    portrait: Path = _opt(help="portrait image (PNG/JPEG/WebP/TIFF)", cli=("--portrait",), wire="portrait")
    audio: Path = _opt(help="speech (WAV/FLAC/OGG/MP3/M4A or a video's audio)", cli=("--audio",), wire="audio")
    emotion: Path | None = _opt(None, help="emotion clip (video or folder of frames), emotion preset (.npz), "
                                "or a bundled preset's name: happy, sad, disgusted", cli=("--emotion",),
                                wire="emotion")
    emotion_neutral: Path | None = _opt(None, help="a neutral clip of the emotion clip's actor (optional)",
                                        cli=("--neutral",), wire="emotion_neutral")
    pose: Path | np.ndarray | None = _opt(None, help="pose: 3DDFA .npy, [T,6] .npy/.csv, a video, or a keyed "
                                          "curve (.json, or .csv with a 'frame,...' header)", cli=("--pose",),
                                          wire="pose")
    strength: float | np.ndarray = _opt(1.0, help="emotion strength α for every frame (default 1), or a curve "
                                        "file as --strength-curve", cli=("--strength",), wire="strength")
    engine: str = _opt("landmark", help="which engine (default: landmark)", cli=("--engine",), wire="engine",
                       choices=ENGINE_NAMES)
    model_dir: Path | None = _opt(None, help="neural engine: the converted model folder (default "
                                  "$EAMM_MODEL_DIR/eamm; docs/models.md)", cli=("--model", "--model-dir"))
    seed: int = _opt(0, help="random seed (same seed, same frames)", cli=("--seed",), wire="seed",
                     ge=0, le=2**31 - 1)
    paste_back: bool = _opt(False, help="also write frames pasted into the full portrait", cli=("--paste-back",),
                            wire="paste_back")
    blink: bool = _opt(True, help="automatic blinks (on by default; --no-blink turns them off)",
                       cli=("--no-blink",), wire="blink")
    idle_motion: bool = _opt(False, help="add small idle head motion", cli=("--idle-motion",), wire="idle_motion")
    transcript: str | None = _opt(None, help="what is said (text, or a .txt file) to help the lip sync",
                                  cli=("--transcript",), wire="transcript", max_length=20000)
    face_index: int | None = _opt(None, help="which face when the portrait has several (0 = largest)",
                                  cli=("--face-index",), wire="face_index", ge=0, le=99)
    frame_start: int = _opt(0, help="first 25 fps frame to render", cli=("--frame-start",), wire="frame_start",
                            ge=0)
    frame_end: int | None = _opt(None, help="render up to this 25 fps frame (exclusive)", cli=("--frame-end",),
                                 wire="frame_end", ge=1)
    write_mp4: bool = _opt(True, help="write result.mp4 (on by default; --no-mp4: frames and manifest only)",
                           cli=("--no-mp4",))
    device: str = _opt("auto", help="neural engine device: auto, cpu, cuda, cuda:N", cli=("--device",))
    precision: str = _opt("fp32", help="neural engine: arithmetic precision (bf16 is about 2x faster on CPUs "
                          "with AVX-512 BF16)", cli=("--precision",), choices=PRECISIONS)
    smooth_pose: bool = _opt(False, help="One-Euro smoothing of the pose", cli=("--smooth-pose",),
                             wire="smooth_pose")
    #: pose values are absolute targets (artist units: scale 1 = the portrait's own size, offset 0 = where
    #: it is), not relative to the first frame as a tracked pose from a file or video is
    pose_absolute: bool = _opt(False, help="pose values are absolute targets, not relative to frame 0")
    #: face resolution of the frames: "auto" (from the face's size in the photo, up to 1024) or a size in px
    #: (eamm_core.render.frame_size)
    size: str = _opt("auto", help="face resolution of the frames (auto: from the face's size in the photo, up to "
                     "1024)", cli=("--size",), wire="size", choices=("auto", "256", "512", "1024", "2048"))
    #: the face landmark model of every stage that finds faces (eamm_core.prepare.landmark_models)
    landmarks: str = _opt(DEFAULT_LANDMARKS, help=f"face landmark model (default {DEFAULT_LANDMARKS}; mediapipe478 is "
                          "Apache-2.0, dlib68's training data is non-commercial: docs/licenses.md)",
                          cli=("--landmarks",), wire="landmarks", choices=LANDMARK_MODELS)


@dataclass(frozen=True)
class JobField:
    """One :class:`JobSpec` field as the builders see it: its name, resolved type, default and option."""

    name: str
    type: object
    default: object  # dataclasses.MISSING when required
    option: Option

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def types(self) -> tuple:
        """The types the field takes, None left out (``int | None`` -> ``(int,)``)."""
        args = typing.get_args(self.type) if isinstance(self.type, UnionType) else (self.type,)
        return tuple(t for t in args if t is not NoneType)

    @property
    def optional(self) -> bool:
        return isinstance(self.type, UnionType) and NoneType in typing.get_args(self.type)

    @property
    def scalar(self) -> type | None:
        """The one plain type (int, float, bool, str or Path) of the field, or None for a mixed one."""
        kinds = self.types
        return kinds[0] if len(kinds) == 1 and kinds[0] in (int, float, bool, str, Path) else None


def job_fields() -> tuple[JobField, ...]:
    """:class:`JobSpec`'s fields in order, with their options."""
    hints = typing.get_type_hints(JobSpec)
    return tuple(JobField(f.name, hints[f.name], f.default, f.metadata["option"]) for f in fields(JobSpec))


def _from_json(f: JobField, value):
    if value is None:
        return None
    if isinstance(value, list):  # a per-frame array (strength, pose)
        return np.asarray(value, np.float32)
    if f.scalar is None:  # a path or a number in a mixed field
        return Path(value) if isinstance(value, str) and Path in f.types else float(value)
    return f.scalar(value)


def spec_from_record(data: dict) -> JobSpec:
    """The :class:`JobSpec` a JSON record describes (the server's ``spec.json``: paths as strings,
    arrays as lists); absent fields take their defaults, other keys are ignored."""
    return JobSpec(**{f.name: _from_json(f, data[f.name]) for f in job_fields() if f.name in data})


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
