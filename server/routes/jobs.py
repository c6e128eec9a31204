"""Jobs: create, list, status, progress stream, cancel, resume, delete."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse

from server.context import AppContext, get_ctx
from server.jobs import FINAL_STATES
from server.responses import JobList, JobStatus, errors
from server.schemas import JobRequest, resolve_request

router = APIRouter(prefix="/v1/jobs", responses=errors(401))
JobId = Annotated[str, Path(max_length=40, description="a job id made by the server (j_...)")]
SSE_POLL_S = 0.1
SSE_PING_S = 15.0


def _request_record(request: JobRequest) -> dict:
    """What job.json keeps of the request (long arrays summarised)."""
    data = request.model_dump(mode="json")
    for key in ("pose", "strength"):
        if isinstance(data.get(key), list):
            data[key] = f"<{len(data[key])} frames>"
    return data


@router.post("", status_code=201, summary="Create a job (checked completely before it is queued)",
             response_model=JobStatus, responses=errors(413, 422, 507))
def create_job(request: JobRequest, ctx: AppContext = Depends(get_ctx)) -> dict:
    spec, total = resolve_request(request, ctx.state())
    return ctx.manager.create(spec, total, _request_record(request))


@router.get("", summary="All jobs, newest first", response_model=JobList)
def list_jobs(ctx: AppContext = Depends(get_ctx)) -> dict:
    return {"jobs": ctx.manager.list()}


@router.get("/{job_id}", summary="Job status", response_model=JobStatus, responses=errors(404, 422))
def job_status(job_id: JobId, ctx: AppContext = Depends(get_ctx)) -> dict:
    return ctx.manager.status(job_id)


@router.get("/{job_id}/events", summary="Job status as server-sent events until a final state",
            response_class=StreamingResponse, responses={**errors(404, 422), 200: {
                "description": "text/event-stream: one `data: <job status JSON>` (the JobStatus schema) per change, "
                               "ending after a final state; `event: deleted` when the job is deleted; "
                               "`: ping` comments while nothing changes",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def job_events(job_id: JobId, request: Request, ctx: AppContext = Depends(get_ctx)) -> StreamingResponse:
    manager = ctx.manager
    manager.get(job_id)  # 404 before the stream starts

    async def stream():
        last, pinged = None, time.monotonic()
        while True:
            version = manager.version(job_id)
            with manager.lock:
                status = manager.jobs[job_id].status() if job_id in manager.jobs else None
            if status is None:
                yield 'event: deleted\ndata: {"state": "deleted"}\n\n'
                return
            if version != last:
                last, pinged = version, time.monotonic()
                yield f"data: {json.dumps(status)}\n\n"
                if status["state"] in FINAL_STATES:
                    return
            elif time.monotonic() - pinged > SSE_PING_S:
                pinged = time.monotonic()
                yield ": ping\n\n"
            if manager.closing or await request.is_disconnected():
                return
            await asyncio.sleep(SSE_POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{job_id}/cancel", summary="Cancel (stops after the current frame; frames are kept)",
             response_model=JobStatus, responses=errors(404, 422))
def cancel_job(job_id: JobId, ctx: AppContext = Depends(get_ctx)) -> dict:
    return ctx.manager.cancel(job_id)


@router.post("/{job_id}/resume", summary="Queue a cancelled, interrupted or failed job again",
             response_model=JobStatus, responses=errors(404, 409, 422))
def resume_job(job_id: JobId, ctx: AppContext = Depends(get_ctx)) -> dict:
    return ctx.manager.resume(job_id)


@router.delete("/{job_id}", status_code=204, summary="Delete a job and its files (cancels it first)",
               responses=errors(404, 422))
def delete_job(job_id: JobId, ctx: AppContext = Depends(get_ctx)) -> Response:
    ctx.manager.delete(job_id)
    return Response(status_code=204)
