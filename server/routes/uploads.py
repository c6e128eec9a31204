"""``POST /v1/uploads`` and ``GET /v1/uploads/{id}``."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile

from eamm_core.errors import EammError
from server.context import AppContext, get_ctx
from server.errors import ApiError, not_found
from server.responses import UploadAnswer, UploadRecord, errors
from server.sniff import ROLE_KINDS, sniff
from server.store import UploadInfo, hash_stream_to_temp
from server.uploads import display_name, validate_upload

log = logging.getLogger("eamm.server")
router = APIRouter(responses=errors(401))
Role = Literal["portrait", "audio", "emotion", "pose", "neutral"]


def _checked_kind(head: bytes, size: int, name: str, role: str):
    if size == 0:
        raise ApiError(422, f"file: {name} is empty", "file")
    found = sniff(head)
    if found is None:
        raise ApiError(422, f"file: {name} is not a supported image, audio, video, pose or preset file "
                       "(its content was checked, not its name)", "file")
    if found.kind not in ROLE_KINDS[role]:
        allowed = " or ".join(ROLE_KINDS[role])
        raise ApiError(422, f"file: {name} is {found.kind} data; a {role} upload must be {allowed}", "file")
    return found


def _validate(ctx: AppContext, info: UploadInfo, role: str) -> dict:
    path = ctx.uploads.path_of(info)
    with ctx.validation_slots:
        try:
            found, warnings = validate_upload(role, info.kind, path)
        except EammError as exc:
            raise ApiError(422, str(exc).replace(path.name, info.name), "file") from None
        except Exception as exc:  # noqa: BLE001 - a decoder choking on the bytes is the file's problem
            log.warning("validating %s as %s failed: %r", info.id, role, exc)
            raise ApiError(422, f"file: {info.name} could not be read as a {role} ({type(exc).__name__})",
                           "file") from None
    warnings = [w.replace(path.name, info.name) for w in warnings]
    return {"info": found, "warnings": warnings}


@router.post("/v1/uploads", status_code=201, summary="Upload an input file (stored once per SHA-256)",
             response_model=UploadAnswer, response_model_exclude_unset=True, responses=errors(400, 413, 422, 507))
def create_upload(
    role: Annotated[Role, Query(description="what the file is for")],
    file: Annotated[UploadFile, File(description="the file")],
    ctx: AppContext = Depends(get_ctx),
) -> dict:
    name = display_name(file.filename)
    try:
        tmp, sha, size, head = hash_stream_to_temp(file.file, ctx.uploads.tmp_dir)
    except OSError as exc:
        raise ApiError(507, f"could not store {name}: {exc.strerror or exc}") from None
    try:
        found = _checked_kind(head, size, name, role)
        ctx.uploads.adopt(tmp, sha, found.ext)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ApiError(507, f"could not store {name}: {exc.strerror or exc}") from None
    except ApiError:
        tmp.unlink(missing_ok=True)
        raise
    with ctx.uploads.lock:
        info = ctx.uploads.get(sha) or UploadInfo(id=sha, name=name, size=size, kind=found.kind, ext=found.ext)
        known = info.roles.get(role)
    if known is None:
        try:
            known = _validate(ctx, info, role)
        except ApiError:
            if not info.roles:
                ctx.uploads.path_of(info).unlink(missing_ok=True)
            raise
        with ctx.uploads.lock:
            info = ctx.uploads.get(sha) or info
            info.roles[role] = known
            try:
                ctx.uploads.save_meta(info)
            except OSError as exc:
                raise ApiError(507, f"could not store {name}: {exc.strerror or exc}") from None
    return {**info.public(role), "name": name}


@router.get("/v1/uploads/{upload_id}", summary="What is stored under an upload id", response_model=UploadRecord,
            responses=errors(404, 422))
def get_upload(upload_id: Annotated[str, Path(max_length=64)], ctx: AppContext = Depends(get_ctx)) -> dict:
    info = ctx.uploads.get(upload_id)
    if info is None:
        raise not_found(f"upload {upload_id[:64]!r}")
    return {"id": info.id, "name": info.name, "size": info.size, "kind": info.kind, "roles": sorted(info.roles)}
