"""Build the Blender extension zip (``make addon``): ``dist/eamm_talking_faces-<version>[-<platform>].zip``.

The zip holds ``blender_manifest.toml`` at its root with the add-on's modules beside it, which is the
layout Blender's *Install from Disk* expects for an extension. With ``--platform`` it also carries the
bundled server (scripts/addon_payload.py) as extension data under ``payload/``: the project's packages
(``project.zip``) and the landmark-only wheels, stored uncompressed (wheels are zips already), plus
``payload.json`` naming them. The add-on unpacks them at first use (blender_addon/bundled.py). They are not
the manifest's ``wheels``: Blender would install those into its own Python, beside its own numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import zipfile
from pathlib import Path

import addon_payload

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


def _add(zf: zipfile.ZipFile, name: str, data: bytes, stored: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=addon_payload.ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def platform_manifest(text: str, platform: str) -> str:
    """The manifest with ``platforms = [platform]`` among its top-level keys (before the first table)."""
    lines = text.splitlines(keepends=True)
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    lines.insert(first_table, f'platforms = ["{platform}"]\n\n')
    return "".join(lines)


def build(out_dir: Path, root: Path = ADDON, platform: str | None = None) -> Path:
    """The plain zip (``platform`` None: the add-on only, for an external server) or a platform's zip
    with the bundled server; a platform zip whose inputs have not changed is kept as it is."""
    manifest_text = (root / "blender_manifest.toml").read_text(encoding="utf-8")
    manifest = tomllib.loads(manifest_text)
    out_dir.mkdir(parents=True, exist_ok=True)
    plat = addon_payload.PLATFORMS[platform] if platform else None
    target = out_dir / f"{manifest['id']}-{manifest['version']}{'-' + plat.suffix if plat else ''}.zip"
    files = addon_files(root)
    digest = addon_payload.inputs_hash(files + [Path(__file__), Path(addon_payload.__file__)]) if plat else ""
    if plat and target.is_file():
        with zipfile.ZipFile(target) as old:
            if old.comment.decode() == digest:
                return target
    wheels = addon_payload.wheels(plat) if plat else []
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            data = path.read_bytes()
            if plat and path.name == "blender_manifest.toml":
                data = platform_manifest(manifest_text, plat.blender).encode()
            _add(zf, path.relative_to(root).as_posix(), data)
        if plat:
            info = {"id": f"{manifest['version']}-{digest[:12]}", "platform": plat.blender, "python": "3.11",
                    "project": "project.zip", "wheels": [w.name for w in wheels]}
            _add(zf, "payload/project.zip", addon_payload.project_zip(), stored=True)
            for wheel in wheels:
                _add(zf, f"payload/{wheel.name}", wheel.read_bytes(), stored=True)
            _add(zf, "payload/payload.json", json.dumps(info, indent=1).encode())
            zf.comment = digest.encode()
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="folder for the zip (default: dist)")
    parser.add_argument("--platform", action="append", choices=sorted(addon_payload.PLATFORMS),
                        help="build this platform's zip with the bundled server (repeatable; default: the "
                             "plain zip that needs an external eamm-server)")
    args = parser.parse_args(argv)
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    for platform in args.platform or [None]:
        target = build(out, platform=platform)
        print(f"built {target} ({target.stat().st_size / 1e6:.0f} MB) — install it in Blender with "
              "Edit ▸ Preferences ▸ Get Extensions ▸ Install from Disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
