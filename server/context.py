"""What every route reads: settings, the job manager, the upload store, presets and engines."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fastapi import Request

from server.config import ServerConfig
from server.jobs import JobManager
from server.schemas import ServerState
from server.store import UploadStore

log = logging.getLogger("eamm.server")


@dataclass
class AppContext:
    config: ServerConfig
    manager: JobManager
    uploads: UploadStore
    presets: dict
    engines: dict
    device_name: str
    devices: list
    validation_slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(2))

    def state(self) -> ServerState:
        return ServerState(uploads=self.uploads, presets=self.presets, engines=self.engines)


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def bundled_presets() -> dict[str, Path]:
    """Emotion presets shipped with eamm_core (``eamm_core/data/presets/<name>.npz``), by name."""
    try:
        folder = resources.files("eamm_core") / "data" / "presets"
        if not folder.is_dir():
            return {}
        return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".npz")}
    except (ModuleNotFoundError, OSError):
        return {}


def available_engines() -> dict[str, bool]:
    """Which engines this installation can run: the landmark engine when its package is present;
    the neural engine when its module says its models are installed (``available()``)."""
    found = {}
    for name in ("landmark", "neural"):
        module_name = f"eamm_core.engines.{name}"
        try:
            if importlib.util.find_spec(module_name) is None:
                found[name] = False
                continue
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - a broken engine is reported as unavailable
            log.warning("engine %s unavailable: %s", name, exc)
            found[name] = False
            continue
        check = getattr(module, "available", None)
        if callable(check):
            try:
                found[name] = bool(check())
            except Exception:  # noqa: BLE001
                found[name] = False
        else:
            found[name] = name == "landmark" and callable(getattr(module, "create", None))
    return found
