"""Engines: ``landmark`` (default, no downloaded weights) and ``neural`` (EAMM networks)."""

from eamm_core.engines.base import ENGINE_NAMES, Engine, EngineOptions, get_engine

__all__ = ["ENGINE_NAMES", "Engine", "EngineOptions", "get_engine"]
