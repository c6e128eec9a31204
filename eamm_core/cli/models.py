"""``eamm models``: list the neural models installed in the models folder (docs/models.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("eamm.models")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("models", help="list installed neural models",
                              description="List the model folders under $EAMM_MODEL_DIR "
                                          "(default ~/.local/share/eamm/models).")
    p.add_argument("--models-dir", type=Path, default=None, help="folder holding the model folders")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    p.set_defaults(func=run)


def installed_models(root: Path) -> list[dict]:
    """One record per sub-folder of ``root`` holding a readable model (broken ones say why)."""
    from eamm_core.engines.neural import checkpoint
    from eamm_core.errors import EammError

    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        try:
            manifest = checkpoint.read_manifest(folder)
        except EammError as exc:
            if (folder / checkpoint.MANIFEST_FILE).exists() or (folder / checkpoint.WEIGHTS_FILE).exists():
                found.append({"name": folder.name, "path": str(folder), "error": str(exc)})
            continue
        size = (folder / checkpoint.WEIGHTS_FILE).stat().st_size
        found.append({"name": folder.name, "path": str(folder), "config": manifest["config"].get("name", "custom"),
                      "size_mb": round(size / 1e6, 1), "created": manifest.get("created", ""),
                      "sources": [s["file"] for s in manifest.get("sources", [])]})
    return found


def run(args: argparse.Namespace) -> int:
    from eamm_core.engines.neural import checkpoint

    root = checkpoint.models_root(args.models_dir)
    models = installed_models(root)
    if args.json:
        sys.stdout.write(json.dumps(models, indent=2) + "\n")
        return 0
    if not models:
        sys.stdout.write(f"no models installed in {root}: {checkpoint.INSTALL_HINT}\n")
        return 0
    for m in models:
        if "error" in m:
            sys.stdout.write(f"{m['name']}\tBROKEN\t{m['error']}\n")
        else:
            sys.stdout.write(f"{m['name']}\t{m['config']}\t{m['size_mb']} MB\t"
                             f"{', '.join(m['sources']) or '-'}\t{m['path']}\n")
    return 0
