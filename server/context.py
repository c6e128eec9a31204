"""What every route reads: settings, the job manager, the upload store, presets and engines."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from dataclasses import dataclass, field
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
        models = installed_models()
        return ServerState(uploads=self.uploads, presets=self.presets, engines=self.engine_status(models),
                           models=models)

    def engine_status(self, models: dict | None = None) -> dict[str, bool]:
        """Engines usable now: the neural one needs an installed model (checked on every call, so
        a model installed while the server runs is seen)."""
        models = installed_models() if models is None else models
        return {**self.engines, "neural": bool(self.engines.get("neural")) and bool(models)}


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def installed_models() -> dict[str, Path]:
    """Readable neural models in the models folder (``$EAMM_MODEL_DIR``, see docs/models.md), by name."""
    try:
        from eamm_core.cli.models import installed_models as listing
        from eamm_core.engines.neural.checkpoint import models_root

        return {m["name"]: Path(m["path"]) for m in listing(models_root()) if "error" not in m}
    except Exception as exc:  # noqa: BLE001 - no neural package or an unreadable folder: no models
        log.debug("no neural models: %s", exc)
        return {}


def available_engines() -> dict[str, bool]:
    """Which engine packages this installation has (``create`` importable); whether the neural
    engine also has a model is :meth:`AppContext.engine_status`."""
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
        found[name] = callable(getattr(module, "create", None))
    return found
