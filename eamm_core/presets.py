"""Emotion presets: emotion displacements already extracted from a clip, in a small ``.npz``.

A preset stores what :mod:`eamm_core.engines.landmark.emotion` measures on a clip
(:func:`eamm_core.engines.landmark.preset.extract_preset`), normalised to a unit face (inter-ocular distance 1, upright), so it applies to any portrait without the clip:

* ``value`` [T,3,2] float32: Δ of the three face-related keypoints' centroids (unit-face units);
* ``jacobian`` [T,3,2,2] float32: Δ of their jacobians (unitless);
* ``landmark_offsets`` [T,68,2] float32: the upper-face landmark displacements (mouth, jaw, nose 0);
* ``name``, ``reference`` (which neutral reference was used), ``source`` (the clip's file name),
  ``source_sha256``, ``format`` (= :data:`FORMAT`), ``fps`` (25).

Loaded with ``allow_pickle=False``; every array is checked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from eamm_core.errors import InputError
from eamm_core.types import EmotionPreset, Keypoints

FORMAT = "eamm-emotion-preset-1"
FIX = "make the preset with scripts/make_emotion_preset.py or use an emotion video instead"


def save_preset(preset: EmotionPreset, path: str | Path) -> Path:
    """Write ``preset`` to ``path`` (``.npz``, compressed)."""
    path = Path(path)
    offsets = preset.landmark_offsets
    n = len(preset.displacements)
    np.savez_compressed(
        path, format=np.array(FORMAT), name=np.array(preset.name), fps=np.array(25.0),
        value=preset.displacements.value.astype(np.float32),
        jacobian=preset.displacements.jacobian.astype(np.float32),
        landmark_offsets=(np.zeros((n, 68, 2)) if offsets is None else offsets).astype(np.float32),
        reference=np.array(str(preset.meta.get("reference", ""))),
        source=np.array(str(preset.meta.get("source", ""))),
        source_sha256=np.array(str(preset.meta.get("source_sha256", ""))))
    return path


def load_preset(path: str | Path) -> EmotionPreset:
    """Read a preset written by :func:`save_preset`; a clear :class:`InputError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found", "check the path of the emotion preset")
    raw = path.read_bytes()
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(path, f"not a readable emotion preset ({str(exc).splitlines()[0][:100]})", FIX) from None
    if str(fields.get("format", "")) != FORMAT:
        raise InputError(path, f"not an emotion preset (format {str(fields.get('format', 'missing'))!r})", FIX)
    value, jac = fields.get("value"), fields.get("jacobian")
    if value is None or jac is None or value.ndim != 3 or value.shape[1:] != (3, 2) \
            or jac.shape != value.shape + (2,) or len(value) == 0:
        raise InputError(path, "the preset's displacement arrays have the wrong shape", FIX)
    if not (np.isfinite(value).all() and np.isfinite(jac).all()):
        raise InputError(path, "the preset contains NaN or infinite values", FIX)
    offsets = fields.get("landmark_offsets")
    meta = {k: str(fields[k]) for k in ("reference", "source", "source_sha256") if k in fields}
    return EmotionPreset(name=str(fields.get("name", path.stem)),
                         displacements=Keypoints(value.astype(np.float32), jac.astype(np.float32)),
                         landmark_offsets=None if offsets is None else offsets.astype(np.float32),
                         path=path, sha256=hashlib.sha256(raw).hexdigest(), meta=meta)


def bundled_presets() -> dict[str, Path]:
    """Emotion presets shipped with the package (``eamm_core/data/presets/<name>.npz``), by name.

    They were made with ``scripts/make_emotion_preset.py`` from MEAD emotion clips (happy, sad,
    disgusted); see ``samples/README.md`` for provenance."""
    folder = Path(__file__).resolve().parent / "data" / "presets"
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.npz"))}


def resolve_emotion(value: str | Path) -> Path:
    """An emotion argument as a path: an existing file or folder as given, else a bundled preset's
    name (``happy``) -> its ``.npz``; anything else is returned unchanged (the loader reports it)."""
    path = Path(value)
    if path.exists() or path.suffix:
        return path
    return bundled_presets().get(str(value).lower(), path)
