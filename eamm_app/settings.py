"""The app's settings, remembered between runs with ``QSettings``.

``Settings.open()`` uses the user's scope (organisation ``eamm``, application ``eamm-app``); tests
pass their own ``QSettings`` (an INI file in a temporary folder) so the user's settings are never
touched.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings

from eamm_app.api import DEFAULT_URL, default_token_file, read_token

ORGANISATION = "eamm"
APPLICATION = "eamm-app"


def default_output_dir() -> Path:
    return Path.home() / "eamm-app-output"


@dataclass
class Settings:
    """What the Settings dialog edits. ``token`` empty = read it from ``token_file``."""

    server_url: str = DEFAULT_URL
    token_file: str = ""
    token: str = ""
    default_engine: str = "landmark"
    default_landmarks: str = "dlib68"
    output_dir: str = ""

    @classmethod
    def open(cls, store: QSettings | None = None) -> Settings:
        store = store if store is not None else QSettings(ORGANISATION, APPLICATION)
        values = {}
        for f in fields(cls):
            value = store.value(f.name, None)
            if value is not None:
                values[f.name] = str(value)
        settings = cls(**values)
        settings._store = store
        return settings

    def save(self) -> None:
        store = getattr(self, "_store", None) or QSettings(ORGANISATION, APPLICATION)
        for f in fields(self):
            store.setValue(f.name, getattr(self, f.name))
        store.sync()

    # --- resolved values -----------------------------------------------------------------------

    def resolved_token_file(self) -> Path:
        return Path(self.token_file).expanduser() if self.token_file else default_token_file()

    def resolved_token(self) -> str:
        return self.token.strip() or read_token(self.resolved_token_file())

    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir).expanduser() if self.output_dir else default_output_dir()
