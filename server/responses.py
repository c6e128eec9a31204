"""What the routes answer (pydantic models), so ``/openapi.json`` documents every response.

The routes return plain dicts that FastAPI checks against these models; the keys are those of
docs/server.md. ``tests/test_server_openapi.py`` checks that the add-on's and the app's clients
read only what is documented here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from eamm_core.job import STAGES
from server.jobs import JOB_STATES


class ErrorBody(BaseModel):
    """Every error: one line for a person, and the request field at fault when known."""

    detail: str
    field: str | None = Field(None, description="the request field at fault (\"file\" for uploads), or null")


def errors(*statuses: int) -> dict:
    """``responses=`` for a route: these error statuses, each answered with :class:`ErrorBody`."""
    return {status: {"model": ErrorBody, "description": ERROR_WHEN[status]} for status in statuses}


ERROR_WHEN = {
    400: "malformed multipart body or Content-Length",
    401: "missing or wrong token",
    403: "Host header not a loopback name nor an allowed remote name",
    404: "unknown job, upload or frame, or a result not made yet",
    409: "resume of a job that is not cancelled, interrupted or failed",
    413: "request body over the limit",
    422: "a field is missing, of the wrong type, out of range, unknown, or refers to a missing upload",
    500: "a bug (details in the server log only)",
    507: "a file could not be written (disk full, permissions)",
}


class Health(BaseModel):
    server_version: str
    api_version: int
    engines: dict[str, bool] = Field(description="engine name -> available on this server")
    device: str


class Named(BaseModel):
    name: str


class ModelList(BaseModel):
    models: list[Named] = Field(description="installed neural models, usable as a job's model")


class PresetList(BaseModel):
    presets: list[Named] = Field(description="bundled emotion presets, usable as a job's emotion_preset")


class UploadFacts(BaseModel):
    """What validation found; which keys are present depends on the role (docs/server.md, Uploads)."""

    model_config = ConfigDict(extra="allow")

    width: int | None = Field(None, description="portrait, emotion, neutral: image or frame width (px)")
    height: int | None = Field(None, description="portrait, emotion, neutral: image or frame height (px)")
    face_box: list[int] | None = Field(None, description="portrait: the face found, x0 y0 x1 y1 (px)")
    alpha: bool | None = Field(None, description="portrait: it has transparent pixels")
    duration_s: float | None = Field(None, description="audio: length in seconds")
    frames: int | None = Field(None, description="25 fps frames (audio, videos, pose) or preset frames")
    fps: int | None = Field(None, description="the model's frame rate (25)")
    source_fps: float | None = Field(None, description="videos: the file's own frame rate")
    preset: str | None = Field(None, description="emotion preset: its name")
    keyed: bool | None = Field(None, description="pose: a keyed curve (frame,yaw,... CSV)")


class UploadAnswer(BaseModel):
    """``POST /v1/uploads``: the stored file and what validation for ``role`` found."""

    id: str = Field(description="SHA-256 of the bytes; the upload id jobs use")
    role: str
    name: str = Field(description="the name sent with this upload (last path component)")
    size: int
    kind: Literal["image", "audio", "video", "preset", "pose"]
    info: UploadFacts
    warnings: list[str]


class UploadRecord(BaseModel):
    """``GET /v1/uploads/{id}``: what is stored under an id and the roles it was validated for."""

    id: str
    name: str
    size: int
    kind: Literal["image", "audio", "video", "preset", "pose"]
    roles: list[str]


class JobOutputs(BaseModel):
    frames: bool = Field(description="frames are on disk")
    mp4: bool = Field(description="result.mp4 is made")


class JobStatus(BaseModel):
    """A job's status (docs/server.md, Jobs)."""

    id: str
    state: Literal[JOB_STATES]
    stage: Literal[STAGES]
    frames_done: int
    frames_total: int
    frame_start: int
    fps: int
    eta_s: float | None = Field(description="seconds left (render stage only)")
    warnings: list[str]
    error: str | None = Field(description="one line for a person when the job failed")
    error_field: str | None = Field(description="the input at fault, when known")
    created: str
    started: str | None
    finished: str | None
    outputs: JobOutputs
    cached: list[str] = Field(description="stages taken from the cache on the last run")
    engine: str
    paste_back: bool
    device: str | None
    resumable: bool = Field(description="cancelled, interrupted or failed: POST .../resume continues it")


class JobList(BaseModel):
    jobs: list[JobStatus] = Field(description="newest first")
