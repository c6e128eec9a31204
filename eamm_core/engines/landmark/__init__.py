"""The landmark engine (default): 68 landmarks -> keypoints, phones -> visemes, a computed warp."""

from __future__ import annotations

from eamm_core.engines.base import EngineOptions


def create(options: EngineOptions | None = None):
    """The engine factory :func:`eamm_core.engines.base.get_engine` calls."""
    from eamm_core.engines.landmark.engine import LandmarkEngine

    return LandmarkEngine(options or EngineOptions())


__all__ = ["create"]
