"""Add-on preferences: where eamm-server is, its token, and how to start it (the bundled one by default)."""

from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import BoolProperty, StringProperty

from . import bundled
from .client import DEFAULT_URL

ADDON_ID = __package__


class EAMM_Preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    server_url: StringProperty(name="Server URL", default=DEFAULT_URL)
    token: StringProperty(name="Token", subtype="PASSWORD",
                          description="Leave empty to read the server's token file")
    server_command: StringProperty(name="Server command", default="eamm-server",
                                   description="Command that starts eamm-server (arguments allowed)")
    server_python: StringProperty(name="Server Python", subtype="FILE_PATH",
                                  description="Python of the EAMM environment; if set, runs `python -m server.main`")
    auto_start: BoolProperty(name="Start the server automatically", default=True,
                             description="Generate starts eamm-server when it is not running")
    use_bundled: BoolProperty(name="Use the bundled server", default=True,
                              description="Run the server that comes with this extension (landmark engine, CPU); "
                              "off: start the Server Python or command below (neural engine, GPUs)")

    def draw(self, context):
        layout = self.layout
        if bundled.available():
            row = layout.row()
            row.prop(self, "use_bundled")
            ready = bundled.is_ready(setup_dir())
            row.label(text=f"landmark · cpu · {'set up' if ready else 'unpacked at the first Generate'}",
                      icon="CHECKMARK" if ready else "INFO")
        layout.prop(self, "server_url")
        layout.prop(self, "token")
        col = layout.column()
        col.active = not bundled_in_use(self)
        col.prop(self, "server_command")
        col.prop(self, "server_python")
        layout.prop(self, "auto_start")


class Fallback:
    """Preferences when the add-on runs without being enabled (bpy module, a farm script)."""

    def __init__(self):
        self.server_url = os.environ.get("EAMM_SERVER_URL", DEFAULT_URL)
        self.token = os.environ.get("EAMM_TOKEN", "")
        self.server_command = "eamm-server"
        self.server_python = os.environ.get("EAMM_SERVER_PYTHON", "")
        self.auto_start = bundled.available()
        self.use_bundled = True


FALLBACK = Fallback()


def bundled_in_use(prefs) -> bool:
    """This zip carries a server (a platform build) and the preferences have not turned it off."""
    return bundled.available() and bool(getattr(prefs, "use_bundled", True))


def setup_dir() -> Path:
    """The extension's user folder, where the bundled server is unpacked (never its own install folder)."""
    return Path(bpy.utils.extension_path_user(ADDON_ID, create=True))


def get(context=None):
    """The add-on's preferences, or :data:`FALLBACK` when it is not enabled in Preferences."""
    context = context or bpy.context
    addons = getattr(getattr(context, "preferences", None), "addons", None)
    entry = addons.get(ADDON_ID) if addons is not None else None
    return entry.preferences if entry is not None and entry.preferences is not None else FALLBACK


classes = (EAMM_Preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
