"""EAMM talking faces for Blender: registration only (the work is in the sibling modules).

The bpy modules are imported in :func:`register`, so the bpy-free helpers (``timing``, ``client``,
``state``) import anywhere, e.g. in the project's main test environment.
"""

import importlib

_MODULES = ("preferences", "properties", "operators", "panels")


def _modules():
    return [importlib.import_module(f"{__name__}.{name}") for name in _MODULES]


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()
