"""``GET /health`` (no token), ``GET /v1/models`` and ``GET /v1/presets``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from server import API_VERSION, __version__
from server.context import AppContext, get_ctx, installed_models
from server.responses import Health, ModelList, PresetList, errors

router = APIRouter()
_V1 = errors(401)


@router.get("/health", summary="Server version, API version, engines and device (no token needed)",
            response_model=Health)
def health(ctx: AppContext = Depends(get_ctx)) -> dict:
    return {"server_version": __version__, "api_version": API_VERSION, "engines": ctx.engine_status(),
            "device": ctx.device_name}


@router.get("/v1/models", summary="Installed neural models usable as model", response_model=ModelList,
            responses=_V1)
def models() -> dict:
    return {"models": [{"name": name} for name in sorted(installed_models())]}


@router.get("/v1/presets", summary="Bundled emotion presets usable as emotion_preset", response_model=PresetList,
            responses=_V1)
def presets(ctx: AppContext = Depends(get_ctx)) -> dict:
    return {"presets": [{"name": name} for name in sorted(ctx.presets)]}
