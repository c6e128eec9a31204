"""The bundled server's payload for one platform: the landmark-only wheels (cached) and the project's packages.

Wheels come from PyPI through pip (``pip download --only-binary=:all: --platform ...`` for the target, so a
Linux machine builds the Windows and macOS payloads too); the two source-only pure-Python packages
(``face_recognition_models``: the dlib model files; ``python_speech_features``) are built once into
``py3-none-any`` wheels. Everything is cached under ``$EAMM_ADDON_CACHE`` (default
``~/.cache/eamm/addon-wheels``), one folder per platform and requirement set, so a rebuild downloads nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "requirements" / "addon-landmark.txt"
PINS = REPO / "requirements" / "main.txt"
NO_DEPS = REPO / "requirements" / "nodeps.txt"  # pinned, installed without their declared dependencies
PROJECT_PACKAGES = ("eamm_core", "server")
PURE_SDISTS = {"face_recognition_models", "python_speech_features"}  # no wheels on PyPI; pure Python
ZIP_DATE = (2026, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Platform:
    blender: str  # the manifest's platforms entry
    suffix: str  # the zip name's platform part (Blender's own naming)
    pip_tags: tuple[str, ...]  # pip download --platform values, best first
    note: str


PLATFORMS = {
    "linux-x64": Platform("linux-x64", "linux_x64", ("manylinux_2_28_x86_64", "manylinux2014_x86_64",
                                                       "manylinux_2_17_x86_64"), "glibc 2.28 or newer"),
    "windows-x64": Platform("windows-x64", "windows_x64", ("win_amd64",), "Windows 10 or newer"),
    "macos-arm64": Platform("macos-arm64", "macos_arm64", ("macosx_14_0_arm64", "macosx_13_0_arm64",
                                                         "macosx_12_0_arm64", "macosx_11_0_arm64",
                                                         "macosx_10_9_universal2"), "macOS 14 or newer (dlib-bin)"),
}


def requirement_names() -> list[str]:
    names = []
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def _pinned_lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()
            if "==" in line.split("#", 1)[0]]


def no_deps_names() -> list[str]:
    """The requirement set's packages that are downloaded without their declared dependencies."""
    names = {_norm(line.split("==", 1)[0]) for line in _pinned_lines(NO_DEPS)}
    return [n for n in requirement_names() if _norm(n) in names]


def _pins() -> dict[str, str]:
    pins = {}
    for line in PINS.read_text(encoding="utf-8").splitlines() + _pinned_lines(NO_DEPS):
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_norm(name)] = version.strip()
    return pins


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def cache_root() -> Path:
    env = os.environ.get("EAMM_ADDON_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "eamm" / "addon-wheels"


def requirements_hash() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + PINS.read_bytes() + NO_DEPS.read_bytes())
    return digest.hexdigest()[:12]


def _pip(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "-q",
           "-c", str(PINS)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(line for line in result.stderr.splitlines() if "Location 'file:" not in line)[-2000:]
        raise SystemExit(f"build_addon: pip failed ({' '.join(args[:2])} ...):\n{tail}")


def wheels(platform: Platform) -> list[Path]:
    """The landmark-only wheels for ``platform`` (downloaded once, then from the cache)."""
    folder = cache_root() / f"{platform.blender}-{requirements_hash()}"
    stamp = folder / ".complete"
    if not stamp.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        part = folder.with_name(folder.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        pins = _pins()
        alone = no_deps_names()
        binary = [n for n in requirement_names() if _norm(n) not in PURE_SDISTS and n not in alone]
        pure = [n for n in requirement_names() if _norm(n) in PURE_SDISTS]
        tags = [a for tag in platform.pip_tags for a in ("--platform", tag)]
        target = [*tags, "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "-d", str(part)]
        _pip(["download", "--only-binary=:all:", *target, *binary])
        if alone:
            _pip(["download", "--only-binary=:all:", "--no-deps", *target, *[f"{n}=={pins[_norm(n)]}" for n in alone]])
        _pip(["wheel", "--no-deps", "-w", str(part), *[f"{n}=={pins[_norm(n)]}" if _norm(n) in pins else n
                                                        for n in pure]])
        (part / ".complete").write_text("\n".join(sorted(p.name for p in part.glob("*.whl"))) + "\n")
        part.rename(folder)
    return sorted(folder.glob("*.whl"))


def project_files() -> list[Path]:
    """The project's packages the server runs (sources and data files; no bytecode)."""
    files = []
    for package in PROJECT_PACKAGES:
        for path in sorted((REPO / package).rglob("*")):
            rel = path.relative_to(REPO)
            if path.is_file() and "__pycache__" not in rel.parts and path.suffix not in (".pyc", ".pyo"):
                files.append(path)
    return files


def project_zip() -> bytes:
    """The project's packages as one zip (unpacked into the server's site folder at first use)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in project_files():
            info = zipfile.ZipInfo(path.relative_to(REPO).as_posix(), date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def inputs_hash(extra: list[Path]) -> str:
    """A digest of everything a platform zip is made of (its zip comment; an equal one is not rebuilt)."""
    digest = hashlib.sha256(requirements_hash().encode())
    for path in sorted(set(project_files()) | set(extra)):
        digest.update(path.relative_to(REPO).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
