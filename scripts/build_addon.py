"""Build the Blender extension zip (``make addon``): ``dist/eamm_talking_faces-<version>.zip``.

The zip holds ``blender_manifest.toml`` at its root with the add-on's modules beside it, which is the
layout Blender's *Install from Disk* expects for an extension. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADDON = REPO / "blender_addon"
SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".zip"}


def addon_files(root: Path = ADDON) -> list[Path]:
    """Files that go into the zip (sources, manifest, license), sorted for a reproducible archive."""
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.suffix in SKIP_SUFFIXES:
            continue
        files.append(path)
    return files


def build(out_dir: Path, root: Path = ADDON) -> Path:
    manifest = tomllib.loads((root / "blender_manifest.toml").read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in addon_files(root):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="folder for the zip (default: dist)")
    args = parser.parse_args(argv)
    target = build(args.out if args.out.is_absolute() else Path.cwd() / args.out)
    print(f"built {target} — install it in Blender with Edit ▸ Preferences ▸ Get Extensions ▸ Install from Disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
