"""Add-on preferences: where eamm-server is, its token, and how to start it."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, StringProperty

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
    auto_start: BoolProperty(name="Start the server automatically", default=False,
                             description="Generate starts eamm-server when it is not running")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "server_url")
        layout.prop(self, "token")
        layout.prop(self, "server_command")
        layout.prop(self, "server_python")
        layout.prop(self, "auto_start")


class Fallback:
    """Preferences when the add-on runs without being enabled (bpy module, a farm script)."""

    def __init__(self):
        self.server_url = os.environ.get("EAMM_SERVER_URL", DEFAULT_URL)
        self.token = os.environ.get("EAMM_TOKEN", "")
        self.server_command = "eamm-server"
        self.server_python = os.environ.get("EAMM_SERVER_PYTHON", "")
        self.auto_start = False


FALLBACK = Fallback()


def get(context=None):
    """The add-on's preferences, or :data:`FALLBACK` when it is not enabled in Preferences."""
    context = context or bpy.context
    addons = getattr(getattr(context, "preferences", None), "addons", None)
    entry = addons.get(ADDON_ID) if addons is not None else None
    return entry.preferences if entry is not None and entry.preferences is not None else FALLBACK


classes = (EAMM_Preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
