"""Per-frame curves: the emotion strength α[t] and head pose over time, at the model's 25 fps.

A curve file lists *keys* (frame → value); values between keys are interpolated linearly, before the
first key the first value holds, after the last key the last value holds. Frames are 25 fps frame
indices counted from the start of the audio (frame 0 = audio time 0), unless the file says another
``fps``, in which case key times are converted (``frame_25 = frame * 25 / fps``).

Accepted layouts (see docs/cli.md):

* JSON object ``{"0": 0.0, "50": 1.0}``;
* JSON object ``{"fps": 24, "keys": {"0": 0.0, "48": 1.0}}`` or ``"keys": [[0, 0.0], [48, 1.0]]``
  or ``"keys": [{"frame": 0, "value": 0.0}, ...]``; pose files may add ``"units": "artist"|"3ddfa"``;
* JSON list ``[[0, 0.0], [50, 1.0]]``;
* CSV rows ``frame,value`` (or ``frame,v1,...,vK`` for vector curves such as pose), an optional
  header row (any non-numeric first row; a pose header naming ``s,tx,ty`` means 3DDFA units),
  ``#`` comments.

A value may be one number (strength) or a list of K numbers (pose: K = 6).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eamm_core import MODEL_FPS
from eamm_core.errors import InputError
from eamm_core.geometry.pose_units import pose_from_artist

POSE_UNITS = ("artist", "3ddfa")
#: |strength| above this is refused (the server's range for JobRequest.strength)
STRENGTH_LIMIT = 10.0


@dataclass(frozen=True)
class CurveKeys:
    """Keys of a curve: ``frames`` [K] float64 (25 fps frame numbers, ascending), ``values`` [K,D]."""

    frames: np.ndarray
    values: np.ndarray
    units: str | None = None

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    @property
    def last_frame(self) -> int:
        return int(math.ceil(float(self.frames[-1])))


def sample_keys(keys: CurveKeys, num_frames: int) -> np.ndarray:
    """Linear interpolation of the keys at frames 0..num_frames-1 -> float32 [num_frames, D]."""
    t = np.arange(num_frames, dtype=np.float64)
    cols = [np.interp(t, keys.frames, keys.values[:, d]) for d in range(keys.width)]
    return np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((num_frames, 0), np.float32)


def load_curve_keys(path: Path, *, width: int | None = None) -> CurveKeys:
    """Read a curve file (JSON or CSV) into sorted keys; ``width`` checks the values' length."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "curve file not found", "check the path")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
        pairs, fps, units = _parse_json(path, text)
    else:
        pairs, fps, units = _parse_csv(path, text), float(MODEL_FPS), _csv_units(text)
        where = [f"row {n}" for n in _csv_row_numbers(text)]
        return _to_keys(path, pairs, fps, units, width, where=where)
    return _to_keys(path, pairs, fps, units, width)


def load_curve(path: Path, num_frames: int | None = None, *, width: int | None = None) -> np.ndarray:
    """A curve file sampled at 25 fps frames ``0..num_frames-1``.

    Returns float32 ``[T]`` for one-number curves and ``[T, K]`` for vector curves. With
    ``num_frames=None`` the curve is sampled up to and including its last key (consumers hold the
    last value beyond that, as :func:`hold_to_length` does).
    """
    keys = load_curve_keys(path, width=width)
    n = keys.last_frame + 1 if num_frames is None else int(num_frames)
    out = sample_keys(keys, n)
    return out[:, 0] if keys.width == 1 and width in (None, 1) else out


def hold_to_length(values: np.ndarray, num_frames: int) -> np.ndarray:
    """Cut or extend (holding the last value) a per-frame array along axis 0 to ``num_frames``."""
    arr = np.asarray(values, np.float32)
    if arr.ndim == 0:
        return np.full((num_frames,), float(arr), np.float32)
    if arr.shape[0] == 0:
        raise ValueError("a per-frame curve needs at least one value")
    if arr.shape[0] >= num_frames:
        return arr[:num_frames].copy()
    pad = np.repeat(arr[-1:], num_frames - arr.shape[0], axis=0)
    return np.concatenate([arr, pad], axis=0)


def strength_per_frame(strength: float | np.ndarray, num_frames: int) -> np.ndarray:
    """α[t] as float32 [num_frames] from one number or a per-frame array (shorter arrays hold);
    every value finite and within ±:data:`STRENGTH_LIMIT` (the server's range)."""
    arr = np.asarray(strength, np.float64)
    flat = arr.reshape(-1)
    if not np.all(np.isfinite(flat)):
        raise InputError(None, "strength contains a value that is not a finite number", field="strength")
    if flat.size and np.abs(flat).max() > STRENGTH_LIMIT:
        worst = float(flat[np.argmax(np.abs(flat))])
        raise InputError(None, f"{worst:g} is outside -{STRENGTH_LIMIT:g}..{STRENGTH_LIMIT:g}",
                         "use a value in that range (0 = neutral, 1 = the clip's emotion)", field="strength")
    return hold_to_length(arr.astype(np.float32) if arr.ndim == 0 else flat.astype(np.float32), num_frames)


def load_pose_curve(path: Path) -> np.ndarray:
    """A keyed pose curve -> [K,6] 3DDFA-convention values (yaw, pitch, roll °, s, tx, ty) sampled
    through the last key. Keys in ``"artist"`` units (the default: yaw, pitch, roll °, scale
    multiplier, offset_x, offset_y as fractions of the crop width) are converted with
    :func:`eamm_core.geometry.pose_units.pose_from_artist`."""
    return load_pose_curve_units(path)[0]


def load_pose_curve_units(path: Path) -> tuple[np.ndarray, str]:
    """:func:`load_pose_curve` and the curve's units (``"artist"`` or ``"3ddfa"``). Artist-unit
    curves are absolute targets (scale 1 = the portrait's own size, offset 0 = where it is)."""
    keys = load_curve_keys(path, width=6)
    units = keys.units or "artist"
    values = sample_keys(keys, keys.last_frame + 1)
    if units == "3ddfa":
        return values, units
    cols = [values[:, i] for i in range(6)]
    return np.asarray(pose_from_artist(*cols), np.float32).reshape(-1, 6), units


def is_keyed_curve(path: Path) -> bool:
    """True when ``path`` is a keyed curve rather than a per-frame pose table or a video: a JSON
    file, or a CSV whose first row is a header starting with ``frame`` (e.g.
    ``frame,yaw,pitch,roll,scale,offset_x,offset_y``). Header-less CSVs are per-frame tables."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return True
    if suffix != ".csv" or not path.is_file():
        return False
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                return line.split(",")[0].strip().lower() == "frame"
    return False


def _parse_json(path: Path, text: str) -> tuple[list[tuple[float, list[float]]], float, str | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"curve is not valid JSON (line {exc.lineno})", "fix the file or use CSV") from None
    fps, units = float(MODEL_FPS), None
    if isinstance(data, dict) and "keys" in data:
        fps = _positive(path, data.get("fps", MODEL_FPS))
        units = data.get("units")
        if units is not None and units not in POSE_UNITS:
            raise InputError(path, f"unknown units {units!r}", f"use one of {', '.join(POSE_UNITS)}")
        data = data["keys"]
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = [(k.get("frame"), k.get("value")) if isinstance(k, dict) else tuple(k)[:2] for k in data]
    else:
        raise InputError(path, "curve JSON must be an object or a list of keys", "see docs/cli.md")
    return [(_number(path, f), _vector(path, v)) for f, v in items], fps, units


def _numeric_rows(path: Path, text: str) -> list[list[float]]:
    rows = []
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for n, row in enumerate(csv.reader(lines)):
        cells = [c.strip() for c in row if c.strip() != ""]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if n == 0:
                continue  # a header row
            raise InputError(path, f"row {n + 1} of the curve is not numbers", "use rows of frame,value") from None
    return rows


def _csv_row_numbers(text: str) -> list[int]:
    """The file line number of each numeric row :func:`_numeric_rows` returns (header skipped)."""
    numbered = [n for n, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines:
        try:
            [float(c) for c in lines[0].split(",") if c.strip()]
        except ValueError:
            numbered = numbered[1:]
    return numbered


def _parse_csv(path: Path, text: str) -> list[tuple[float, list[float]]]:
    rows = _numeric_rows(path, text)
    if any(len(r) < 2 for r in rows):
        raise InputError(path, "a curve row needs a frame and a value", "use rows of frame,value")
    return [(r[0], r[1:]) for r in rows]


def _csv_units(text: str) -> str | None:
    """``3ddfa`` when a CSV header names the 3DDFA columns ``s, tx, ty``; else None."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names = {c.strip().lower() for c in line.split(",")}
            return "3ddfa" if {"tx", "ty"} <= names else None
    return None


def _to_keys(path: Path, pairs, fps: float, units: str | None, width: int | None, *,
             where: list[str] | None = None) -> CurveKeys:
    if not pairs:
        raise InputError(path, "curve has no keys", "add at least one frame,value row")
    widths = {len(v) for _, v in pairs}
    if len(widths) != 1:
        raise InputError(path, "curve keys have different numbers of values", "give every key the same count")
    (w,) = widths
    if width is not None and w != width:
        raise InputError(path, f"curve keys have {w} value(s), expected {width}", "see docs/cli.md")
    frames = np.array([f for f, _ in pairs], np.float64) * (MODEL_FPS / fps)
    values = np.array([v for _, v in pairs], np.float64)
    bad = np.flatnonzero((frames < 0) | ~np.isfinite(frames) | ~np.all(np.isfinite(values), axis=1))
    if bad.size:
        i = int(bad[0])
        what = "a negative frame" if frames[i] < 0 else "a value that is not a finite number (NaN or infinite)"
        at = where[i] if where is not None and i < len(where) else f"key {i + 1}"
        raise InputError(path, f"curve has {what} in {at} (frame {pairs[i][0]:g})", "fix that key")
    order = np.argsort(frames, kind="stable")
    frames, values = frames[order], values[order]
    if np.any(np.diff(frames) == 0):
        raise InputError(path, "curve has two keys on the same frame", "keep one key per frame")
    return CurveKeys(frames, values, units)


def _number(path: Path, x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        raise InputError(path, f"curve key frame {x!r} is not a number", "use frame numbers as keys") from None


def _positive(path: Path, x) -> float:
    v = _number(path, x)
    if not v > 0:
        raise InputError(path, f"fps {x!r} must be positive", "use e.g. 24 or 25")
    return v


def _vector(path: Path, v) -> list[float]:
    vals = v if isinstance(v, (list, tuple)) else [v]
    try:
        return [float(x) for x in vals]
    except (TypeError, ValueError):
        raise InputError(path, f"curve value {v!r} is not a number", "use numbers as values") from None
