"""Content-addressed cache of stage results (docs/architecture.md, "Caching").

An entry is ``<root>/<stage>/<key>.npz`` where ``key`` is the SHA-256 of a canonical JSON of the
stage's inputs (file hashes, parameters, the keys of the stages it reads) and the code fingerprint
of the modules that compute it. Entries are plain ``np.savez`` archives (no pickles), written to a
temporary name and renamed, so a crash never leaves a half-written entry under a valid name. A
corrupt entry is treated as a miss and removed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from eamm_core.types import AudioFeatures, Keypoints, PortraitCrop

log = logging.getLogger(__name__)

#: bump when the layout of an entry changes
CACHE_FORMAT = 1

_FILE_HASHES: dict[tuple[str, int, int], str] = {}
_FINGERPRINTS: dict[tuple[str, ...], str] = {}


def default_cache_dir() -> Path:
    """``$EAMM_CACHE`` if set, else ``~/.cache/eamm``."""
    env = os.environ.get("EAMM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eamm"


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes (memoised on path, size and modification time); for a
    folder of frames, of its sorted file names and their bytes (not memoised: a folder's time does
    not change when a file in it is rewritten)."""
    path = Path(path)
    if path.is_dir():
        return _folder_sha256(path)
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_HASHES:
        h = hashlib.sha256()
        _hash_file(h, path)
        _FILE_HASHES[memo] = h.hexdigest()
    return _FILE_HASHES[memo]


def _folder_sha256(path: Path) -> str:
    h = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        h.update(file.name.encode("utf-8") + b"\0")
        _hash_file(h, file)
    return h.hexdigest()


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def array_sha256(arr: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes."""
    a = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def canonical_key(parts: dict) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of ``parts``."""
    text = json.dumps({"format": CACHE_FORMAT, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_fingerprint(*module_names: str) -> str:
    """A hash of the source files of the given modules/packages: a cache entry computed by older
    code is never reused after that code changes. Line endings are normalised (CRLF -> LF), so a
    Windows and a Linux checkout of the same code share the keys (a farm's mixed workers)."""
    names = tuple(sorted(module_names))
    if names not in _FINGERPRINTS:
        h = hashlib.sha256()
        for name in names:
            for path in _module_files(name):
                h.update(path.name.encode())
                h.update(path.read_bytes().replace(b"\r\n", b"\n"))
        _FINGERPRINTS[names] = h.hexdigest()[:16]
    return _FINGERPRINTS[names]


def _module_files(name: str) -> list[Path]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


class Cache:
    """Stage results on disk. ``Cache(None)`` is a cache that never hits and stores nothing."""

    def __init__(self, root: Path | None):
        self.root = None if root is None else Path(root)

    def path(self, stage: str, key: str) -> Path:
        assert self.root is not None
        return self.root / stage / f"{key}.npz"

    def get(self, stage: str, key: str) -> dict[str, np.ndarray] | None:
        if self.root is None:
            return None
        path = self.path(stage, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss
            log.warning("cache entry %s is unreadable (%s); recomputing", path, exc)
            path.unlink(missing_ok=True)
            return None

    def put(self, stage: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        if self.root is None:
            return
        path = self.path(stage, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only cache must not fail the job
            log.warning("could not write cache entry %s (%s)", path, exc)


# --- packing typed values into plain arrays ------------------------------------------------------


def _strs(items) -> np.ndarray:
    return np.array([str(x) for x in items], dtype=np.str_)


def pack_keypoints(kp: Keypoints, prefix: str) -> dict[str, np.ndarray]:
    out = {f"{prefix}_value": kp.value, f"{prefix}_jacobian": kp.jacobian}
    if kp.tongue is not None:
        out[f"{prefix}_tongue"] = kp.tongue
    return out


def unpack_keypoints(data: dict[str, np.ndarray], prefix: str) -> Keypoints:
    tongue = data[f"{prefix}_tongue"] if f"{prefix}_tongue" in data else None
    return Keypoints(data[f"{prefix}_value"], data[f"{prefix}_jacobian"], tongue)


def pack_crop(crop: PortraitCrop) -> dict[str, np.ndarray]:
    dense = {} if crop.dense_px is None else {"dense_px": crop.dense_px}
    return {
        **dense,
        "image": crop.image,
        "mask": crop.mask,
        "landmarks_px": crop.landmarks_px,
        "source_landmarks_px": crop.source_landmarks_px,
        "crop_from_source": crop.crop_from_source,
        "source_from_crop": crop.source_from_crop,
        "original": crop.original,
        "face_box": np.asarray(crop.face_box, np.int64),
        "path": _strs([crop.path or ""]),
        "sha256": _strs([crop.sha256]),
        "warnings": _strs(crop.warnings),
    }


def unpack_crop(d: dict[str, np.ndarray]) -> PortraitCrop:
    path = str(d["path"][0])
    return PortraitCrop(
        image=d["image"],
        mask=d["mask"],
        landmarks_px=d["landmarks_px"],
        source_landmarks_px=d["source_landmarks_px"],
        crop_from_source=d["crop_from_source"],
        source_from_crop=d["source_from_crop"],
        original=d["original"],
        face_box=tuple(int(v) for v in d["face_box"]),
        path=Path(path) if path else None,
        sha256=str(d["sha256"][0]),
        warnings=tuple(str(w) for w in d["warnings"]),
        dense_px=d["dense_px"] if "dense_px" in d else None,
    )


def pack_audio(audio: AudioFeatures) -> dict[str, np.ndarray]:
    return {
        "samples": audio.samples,
        "sample_rate": np.asarray(audio.sample_rate, np.int64),
        "mfcc": audio.mfcc,
        "windows": audio.windows,
        "loudness": audio.loudness,
        "path": _strs([audio.path or ""]),
        "sha256": _strs([audio.sha256]),
        "warnings": _strs(audio.warnings),
    }


def unpack_audio(d: dict[str, np.ndarray]) -> AudioFeatures:
    path = str(d["path"][0])
    return AudioFeatures(
        samples=d["samples"],
        sample_rate=int(d["sample_rate"]),
        mfcc=d["mfcc"],
        windows=d["windows"],
        loudness=d["loudness"],
        path=Path(path) if path else None,
        sha256=str(d["sha256"][0]),
        warnings=tuple(str(w) for w in d["warnings"]),
    )
