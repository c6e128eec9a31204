"""``GET /health`` (no token), ``GET /v1/models`` and ``GET /v1/presets``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from server import API_VERSION, __version__
from server.context import AppContext, get_ctx, installed_models

router = APIRouter()


@router.get("/health", summary="Server version, API version, engines and device (no token needed)")
def health(ctx: AppContext = Depends(get_ctx)) -> dict:
    return {"server_version": __version__, "api_version": API_VERSION, "engines": ctx.engine_status(),
            "device": ctx.device_name}


@router.get("/v1/models", summary="Installed neural models usable as model")
def models() -> dict:
    return {"models": [{"name": name} for name in sorted(installed_models())]}


@router.get("/v1/presets", summary="Bundled emotion presets usable as emotion_preset")
def presets(ctx: AppContext = Depends(get_ctx)) -> dict:
    return {"presets": [{"name": name} for name in sorted(ctx.presets)]}
