"""The neural engine (EAMM's networks). ``create(options)`` is what ``get_engine("neural")`` calls."""

from __future__ import annotations

from eamm_core.engines.base import EngineOptions


def create(options: EngineOptions | None = None):
    """Build the engine; raises a one-line ``ModelNotFoundError`` when no converted model is installed."""
    from eamm_core.engines.neural.engine import NeuralEngine

    return NeuralEngine(options or EngineOptions())
