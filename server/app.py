"""The FastAPI application, wrapped in the :class:`~server.auth.Guard` (Host, token, body limits)."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from eamm_core.presets import bundled_presets
from server import __version__
from server.auth import Guard
from server.config import ServerConfig, allowed_host_headers
from server.context import AppContext, available_engines
from server.errors import ApiError
from server.jobs import JobManager
from server.responses import errors
from server.routes import health, jobs, results, uploads
from server.store import UploadStore
from server.worker import Runner, SubprocessRunner, Worker, detect_devices

log = logging.getLogger("eamm.server")
SHUTDOWN_WAIT_S = 20.0


def _error(status: int, detail: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first problem as one line naming the field (``pose.3: ...``), and the top-level field."""
    first = _best_error(exc.errors())
    if first.get("type") == "json_invalid":
        return "request body: not valid JSON", None
    where = [p for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    loc = [str(p) for p in where if isinstance(p, int) or str(p).isidentifier()]
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "extra_forbidden":
        message = "unknown field (see docs/server.md for the job fields)"
    elif first.get("type") == "missing":
        message = "required"
    top = loc[0] if loc and not loc[0].isdigit() else None
    return f"{field or 'request body'}: {message}", top


def _best_error(errors) -> dict:
    """The first error, but for a field that accepts several types (``strength``: a number or a
    list) the error of the branch the value has the type of, not "should be a valid number"."""
    if not errors:
        return {}
    first = errors[0]
    if str(first.get("type", "")).endswith("_type"):
        same = [e for e in errors if e.get("loc", ())[:2] == first.get("loc", ())[:2]
                or e.get("loc", ())[:1] == first.get("loc", ())[:1]]
        better = [e for e in same if not str(e.get("type", "")).endswith("_type")]
        if better:
            first = better[0]
    if first.get("type") == "too_long" and "max_length" in first.get("ctx", {}):
        ctx = first["ctx"]
        first = {**first, "msg": f"{ctx.get('actual_length', 'too many')} values, more than the limit of "
                                 f"{ctx['max_length']} (one value per 25 fps frame)"}
    return first


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return _error(exc.status, exc.detail, exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        detail, field = _validation_message(exc)
        return _error(422, detail, field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception):
        log.exception("internal error: %r", exc)
        return _error(500, f"internal server error ({type(exc).__name__}); details in the server log")


def build_context(config: ServerConfig, devices: list[str] | None = None) -> AppContext:
    for folder in (config.data_dir, config.uploads_dir, config.jobs_dir, config.tmp_dir, config.job_cache_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for stale in config.tmp_dir.iterdir():  # partial uploads and zips of a previous run
        if stale.is_file():
            stale.unlink(missing_ok=True)
    found, device_name = detect_devices()
    devices = list(config.devices or devices or found)
    if config.devices:
        device_name = ", ".join(config.devices)
    return AppContext(config=config, manager=JobManager(config.jobs_dir),
                      uploads=UploadStore(config.uploads_dir, config.tmp_dir), presets=bundled_presets(),
                      engines=available_engines(), device_name=device_name, devices=devices)


def create_app(config: ServerConfig, token: str, *, runner: Runner | None = None):
    """The ASGI app: the FastAPI routes behind the guard. ``runner`` defaults to one process per job."""
    ctx = build_context(config)
    runner = runner or SubprocessRunner()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        workers = [Worker(ctx.manager, device, runner, config.job_cache_dir) for device in ctx.devices]
        for worker in workers:
            worker.start()
        log.info("workers: %s", ", ".join(ctx.devices))
        yield
        handles = ctx.manager.close()
        if handles:
            log.info("stopping %d running job(s); they can be resumed after the next start", len(handles))
        waiter = threading.Thread(target=lambda: [w.join(SHUTDOWN_WAIT_S) for w in workers], daemon=True)
        waiter.start()
        waiter.join(SHUTDOWN_WAIT_S)

    app = FastAPI(title="eamm-server", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  responses=errors(403, 500),
                  description="Local EAMM inference server (docs/server.md). Every route but /health needs "
                              "Authorization: Bearer <token>.")
    app.state.ctx = ctx
    _install_handlers(app)
    for module in (health, uploads, jobs, results):
        app.include_router(module.router)
    guarded = Guard(app, token=token, allowed_hosts=allowed_host_headers(config),
                    max_upload=config.max_upload_bytes, max_json=config.max_json_bytes)
    guarded.fastapi, guarded.ctx = app, ctx
    return guarded
