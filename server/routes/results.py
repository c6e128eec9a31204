"""Results: one frame, a zip of frames, the MP4, the manifest."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from server.context import AppContext, get_ctx
from server.errors import ApiError
from server.responses import errors
from server.routes.jobs import JobId

router = APIRouter(prefix="/v1/jobs", responses=errors(401))
BINARY = {"schema": {"type": "string", "format": "binary"}}


def _file(media_type: str, what: str, *statuses: int) -> dict:
    """``responses=`` of a route that answers a file."""
    return {**errors(*statuses), 200: {"description": what, "content": {media_type: BINARY}}}


FrameNo = Annotated[int, Path(ge=0, le=9_999_999, description="absolute 25 fps frame index")]
Pasted = Annotated[bool | None, Query(description="the pasted-back frames (default: when the job pastes back)")]
MAX_ZIP_FRAMES = 100_000


def _frames_dir(ctx: AppContext, job_id: str, pasted: bool | None) -> tuple[FsPath, object]:
    rec = ctx.manager.get(job_id)
    use_pasted = rec.paste_back if pasted is None else pasted
    if use_pasted and not rec.paste_back:
        raise ApiError(404, f"job {job_id} has no pasted-back frames (it was created with paste_back false)")
    return ctx.manager.out_dir(rec.id) / ("pasted" if use_pasted else "frames"), rec


@router.get("/{job_id}/frames/{n}", summary="One frame as PNG", response_class=FileResponse,
            responses=_file("image/png", "the frame (PNG)", 404, 422))
def get_frame(job_id: JobId, n: FrameNo, pasted: Pasted = None, ctx: AppContext = Depends(get_ctx)) -> FileResponse:
    folder, rec = _frames_dir(ctx, job_id, pasted)
    path = folder / f"frame_{n:06d}.png"
    if not path.is_file():
        raise ApiError(404, f"frame {n} of job {rec.id} is not on disk (frames {rec.frame_start}.."
                       f"{rec.frame_start + rec.frames_total - 1}; {rec.frames_done} done)")
    return FileResponse(path, media_type="image/png")


def _zip(paths: list[FsPath], tmp_dir: FsPath) -> FsPath:
    fd, name = tempfile.mkstemp(prefix="frames-", suffix=".zip", dir=tmp_dir)
    with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        for path in paths:
            zf.write(path, path.name)
    return FsPath(name)


@router.get("/{job_id}/frames.zip", summary="A range of frames as a zip (start inclusive, end exclusive)",
            response_class=FileResponse, responses=_file("application/zip", "frame_%06d.png files", 404, 422, 507))
def get_frames_zip(
    job_id: JobId,
    start: Annotated[int | None, Query(ge=0, le=9_999_999)] = None,
    end: Annotated[int | None, Query(ge=0, le=9_999_999)] = None,
    pasted: Pasted = None,
    ctx: AppContext = Depends(get_ctx),
) -> FileResponse:
    folder, rec = _frames_dir(ctx, job_id, pasted)
    lo = rec.frame_start if start is None else start
    hi = rec.frame_start + rec.frames_total if end is None else end
    if hi - lo > MAX_ZIP_FRAMES:
        raise ApiError(422, f"end: at most {MAX_ZIP_FRAMES} frames per zip", "end")
    paths = [folder / f"frame_{i:06d}.png" for i in range(lo, hi)]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        raise ApiError(404, f"no frames of job {rec.id} between {lo} and {hi} are on disk")
    try:
        archive = _zip(paths, ctx.config.tmp_dir)
    except OSError as exc:
        raise ApiError(507, f"could not build the zip: {exc.strerror or exc}") from None
    return FileResponse(archive, media_type="application/zip", filename=f"{rec.id}_frames_{lo}_{hi}.zip",
                        background=BackgroundTask(archive.unlink, missing_ok=True))


@router.get("/{job_id}/video", summary="The MP4 (H.264, 25 fps, with the audio)", response_class=FileResponse,
            responses=_file("video/mp4", "result.mp4", 404, 422))
def get_video(job_id: JobId, ctx: AppContext = Depends(get_ctx)) -> FileResponse:
    rec = ctx.manager.get(job_id)
    path = ctx.manager.out_dir(rec.id) / "result.mp4"
    if rec.state != "done" or not path.is_file():
        raise ApiError(404, f"job {rec.id} has no MP4 ({rec.state}"
                       + ("" if "mp4" in rec.wanted else "; it was not asked for in outputs") + ")")
    return FileResponse(path, media_type="video/mp4", filename=f"{rec.id}.mp4")


def public_manifest(data, job_dir: FsPath):
    """``data`` with no absolute server path: paths inside the job folder become relative to it,
    any other absolute path (uploads, presets, models) becomes its file name."""
    job = str(job_dir).rstrip("/\\")
    if isinstance(data, dict):
        return {k: public_manifest(v, job_dir) for k, v in data.items()}
    if isinstance(data, list):
        return [public_manifest(v, job_dir) for v in data]
    if not isinstance(data, str):
        return data
    if FsPath(data).is_absolute():
        p = FsPath(data)
        return p.relative_to(job_dir).as_posix() if p.is_relative_to(job_dir) else p.name
    return data.replace(job + "/", "").replace(job + "\\", "").replace(job, ".")


@router.get("/{job_id}/manifest", summary="The job's manifest JSON", responses={**errors(404, 422), 200: {
    "description": "manifest.json (docs/cli.md) with no absolute server path",
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}}})
def get_manifest(job_id: JobId, ctx: AppContext = Depends(get_ctx)) -> JSONResponse:
    rec = ctx.manager.get(job_id)
    path = ctx.manager.out_dir(rec.id) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ApiError(404, f"job {rec.id} has no manifest yet ({rec.state})") from None
    return JSONResponse(public_manifest(data, ctx.manager.job_dir(rec.id)))
