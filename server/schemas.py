"""The job request (``POST /v1/jobs``) and its checks before anything is queued.

:class:`JobRequest` checks types and ranges (pydantic, unknown fields refused);
:func:`resolve_request` checks everything that needs the server's state (uploads exist and were
validated for their role, presets, engines, the frame range against the audio) and returns the
runner's ``spec.json`` content, with server-made paths only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from eamm_core.curves import STRENGTH_LIMIT
from server.errors import ApiError
from server.store import UploadInfo, UploadStore

UploadId = Annotated[str, Field(max_length=64, description="an upload id (SHA-256 hex) from POST /v1/uploads")]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-STRENGTH_LIMIT, le=STRENGTH_LIMIT)]  # as the CLI's
PoseRow = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=6, max_length=6)]
MAX_FRAMES = 25 * 60 * 60  # one hour at 25 fps


class JobRequest(BaseModel):
    """A job as the add-on and the app send it (docs/server.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    portrait: UploadId
    audio: UploadId
    emotion: UploadId | None = None
    emotion_preset: Annotated[str, Field(max_length=64)] | None = None
    emotion_neutral: UploadId | None = None
    strength: Number | Annotated[list[Number], Field(min_length=1, max_length=MAX_FRAMES)] = 1.0
    pose: Annotated[list[PoseRow], Field(min_length=1, max_length=MAX_FRAMES)] | None = None
    pose_units: Literal["3ddfa", "artist"] = "3ddfa"
    pose_file: UploadId | None = None
    engine: Literal["landmark", "neural"] = "landmark"
    model: Annotated[str, Field(max_length=128)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    frame_start: Annotated[int, Field(ge=0, le=MAX_FRAMES)] = 0
    frame_end: Annotated[int, Field(ge=1, le=MAX_FRAMES)] | None = None
    face_index: Annotated[int, Field(ge=0, le=99)] | None = None
    landmarks: Literal["dlib68", "mediapipe478"] = "dlib68"
    paste_back: bool = False
    blink: bool = True
    idle_motion: bool = False
    smooth_pose: bool = False
    transcript: Annotated[str, Field(max_length=20000)] | None = None
    outputs: Annotated[list[Literal["frames", "mp4"]], Field(max_length=2)] = ["frames", "mp4"]
    # farm steps (docs/farm.md): "motion" caches prepare + motion + emotion and renders nothing;
    # "render" renders frame_start..frame_end as frames only (a chunk: no MP4)
    stage: Literal["all", "motion", "render"] = "all"


@dataclass(frozen=True)
class ServerState:
    """What request resolution needs to know about the server."""

    uploads: UploadStore
    presets: dict  # name -> Path of a bundled preset
    engines: dict  # name -> bool (available)
    models: dict  # name -> Path of an installed neural model


def _upload(state: ServerState, value: str | None, field: str, role: str) -> UploadInfo | None:
    if value is None:
        return None
    info = state.uploads.get(value)
    if info is None or role not in info.roles:
        raise ApiError(422, f"{field}: no {role} upload with id {value[:64]!r}; upload the file with "
                       f"POST /v1/uploads?role={role} and use the id it returns", field)
    return info


def _frames(request: JobRequest, audio: UploadInfo) -> tuple[int, int]:
    available = int(audio.roles["audio"]["info"].get("frames", 0))
    end = available if request.frame_end is None else request.frame_end
    if request.frame_end is not None and request.frame_end > available:
        raise ApiError(422, f"frame_end: {request.frame_end} is past the end of the audio "
                       f"({available} frames at 25 fps)", "frame_end")
    if request.frame_start >= end:
        raise ApiError(422, f"frame_start: {request.frame_start} must be below frame_end ({end}; the audio "
                       f"has {available} frames at 25 fps)", "frame_start")
    return request.frame_start, end


def _pose(request: JobRequest) -> list | None:
    if request.pose is None:
        return None
    import numpy as np

    from eamm_core.errors import EammError
    from eamm_core.prepare.pose import pose_from_artist, validate_pose

    arr = np.asarray(request.pose, np.float64)
    try:
        if request.pose_units == "artist":
            arr = pose_from_artist(*[arr[:, i] for i in range(6)])
        arr = validate_pose(arr, None)
    except EammError as exc:
        raise ApiError(422, f"pose: {exc}", "pose") from None
    if not np.isfinite(arr).all():
        raise ApiError(422, "pose: the values give a non-finite pose", "pose")
    return [[float(v) for v in row] for row in arr]


def _pose_absolute(request: JobRequest) -> bool:
    """Artist-unit poses are absolute targets (scale 1 = the portrait's size), not relative to frame 0."""
    return request.pose is not None and request.pose_units == "artist"


def _emotion(request: JobRequest, state: ServerState) -> str | None:
    if request.emotion is not None and request.emotion_preset is not None:
        raise ApiError(422, "emotion_preset: give either emotion (an upload) or emotion_preset, not both",
                       "emotion_preset")
    if request.emotion_preset is not None:
        path = state.presets.get(request.emotion_preset)
        if path is None:
            names = ", ".join(sorted(state.presets)) or "none installed"
            raise ApiError(422, f"emotion_preset: unknown preset {request.emotion_preset[:64]!r} "
                           f"(available: {names})", "emotion_preset")
        return str(path)
    info = _upload(state, request.emotion, "emotion", "emotion")
    return None if info is None else str(state.uploads.path_of(info))


def _model_dir(request: JobRequest, state: ServerState) -> str | None:
    """The engine is available; the model folder for the neural engine (by name, never a path)."""
    if not state.engines.get(request.engine):
        raise ApiError(422, f"engine: the {request.engine} engine is not available on this server "
                       f"(available: {', '.join(k for k, v in state.engines.items() if v)})", "engine")
    if request.engine != "neural":
        if request.model is not None:
            raise ApiError(422, f"model: the {request.engine} engine has no models; leave model null", "model")
        return None
    from eamm_core.engines.neural.checkpoint import DEFAULT_MODEL_NAME

    name = request.model
    if name is None:  # the default model, or the only one installed
        only_one = len(state.models) == 1 and DEFAULT_MODEL_NAME not in state.models
        name = next(iter(state.models)) if only_one else DEFAULT_MODEL_NAME
    if name not in state.models:
        raise ApiError(422, f"model: no installed model named {name[:64]!r} (installed: "
                       f"{', '.join(sorted(state.models)) or 'none'}; see GET /v1/models)", "model")
    return str(state.models[name])


def resolve_request(request: JobRequest, state: ServerState) -> tuple[dict, int]:
    """Check ``request`` against the server's state; returns (spec.json content, frames_total)."""
    portrait = _upload(state, request.portrait, "portrait", "portrait")
    audio = _upload(state, request.audio, "audio", "audio")
    neutral = _upload(state, request.emotion_neutral, "emotion_neutral", "neutral")
    pose_file = _upload(state, request.pose_file, "pose_file", "pose")
    if request.pose is not None and pose_file is not None:
        raise ApiError(422, "pose_file: give either pose (an array) or pose_file, not both", "pose_file")
    model_dir = _model_dir(request, state)
    emotion = _emotion(request, state)
    if neutral is not None and emotion is None:
        raise ApiError(422, "emotion_neutral: a neutral clip needs an emotion clip too", "emotion_neutral")
    start, end = _frames(request, audio)
    if request.stage == "render" and "mp4" in request.outputs:
        raise ApiError(422, "outputs: a render chunk (stage render) makes frames only; ask for [\"frames\"] "
                       "and encode the MP4 once all chunks are done", "outputs")
    strength = request.strength
    if isinstance(strength, list) and not all(math.isfinite(v) for v in strength):
        raise ApiError(422, "strength: values must be finite numbers", "strength")
    spec = {
        "portrait": str(state.uploads.path_of(portrait)), "audio": str(state.uploads.path_of(audio)),
        "emotion": emotion, "emotion_neutral": None if neutral is None else str(state.uploads.path_of(neutral)),
        "pose": _pose(request) if pose_file is None else str(state.uploads.path_of(pose_file)),
        "pose_absolute": _pose_absolute(request),
        "strength": strength, "engine": request.engine, "model_dir": model_dir, "seed": request.seed,
        "paste_back": request.paste_back, "blink": request.blink, "idle_motion": request.idle_motion,
        "smooth_pose": request.smooth_pose, "transcript": request.transcript, "face_index": request.face_index,
        "landmarks": request.landmarks, "frame_start": start, "frame_end": end, "write_mp4": "mp4" in request.outputs and request.stage == "all",
        "stage": request.stage,
    }
    return spec, end - start
