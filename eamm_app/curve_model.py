"""Keyed curves of the app (strength, head yaw/pitch/roll): keys, interpolation, files.

Pure Python (no Qt). Frames are 25 fps frame indices from the start of the audio, as everywhere in
EAMM. Files are written in the layouts ``eamm_core.curves`` reads (the CLI's ``--strength-curve`` and
``--pose`` curve files):

* strength, JSON: ``{"fps": 25, "keys": [[frame, value], ...]}``; CSV: ``frame,strength`` rows;
* pose, JSON: ``{"fps": 25, "units": "artist", "keys": [[frame, [yaw, pitch, roll, 1, 0, 0]], ...]}``;
  CSV: header ``frame,yaw,pitch,roll,scale,offset_x,offset_y`` then rows.

The CLI interpolates keys linearly. In ``smooth`` mode the app therefore writes one key per frame
between the first and the last key (the baked curve, so the CLI reads exactly what the app shows)
and, in JSON, also ``"interp": "smooth"`` and ``"control_keys"`` so the app can reopen the
editable keys (the CLI ignores both).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

FPS = 25
INTERP_MODES = ("linear", "smooth")


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    label: str
    minimum: float
    maximum: float
    default: float


CHANNELS: dict[str, ChannelSpec] = {
    "strength": ChannelSpec("strength", "Emotion strength", 0.0, 2.0, 1.0),
    "yaw": ChannelSpec("yaw", "Head yaw (°)", -45.0, 45.0, 0.0),
    "pitch": ChannelSpec("pitch", "Head pitch (°)", -45.0, 45.0, 0.0),
    "roll": ChannelSpec("roll", "Head roll (°)", -45.0, 45.0, 0.0),
}
POSE_CHANNELS = ("yaw", "pitch", "roll")


class CurveFileError(ValueError):
    """A curve file that cannot be read; the message is one line for a person."""


@dataclass
class Curve:
    """Keys ``[(frame, value), ...]`` kept sorted by frame, at most one key per frame."""

    spec: ChannelSpec
    keys: list[tuple[int, float]] = field(default_factory=list)
    interp: str = "linear"

    def clamp(self, value: float) -> float:
        return min(self.spec.maximum, max(self.spec.minimum, float(value)))

    def index_at(self, frame: int) -> int | None:
        for i, (f, _) in enumerate(self.keys):
            if f == frame:
                return i
        return None

    def add(self, frame: int, value: float) -> int:
        """Add (or replace) the key on ``frame``; returns its index."""
        frame = max(0, int(round(frame)))
        existing = self.index_at(frame)
        if existing is not None:
            self.keys[existing] = (frame, self.clamp(value))
            return existing
        self.keys.append((frame, self.clamp(value)))
        self.keys.sort()
        return self.index_at(frame)

    def move(self, index: int, frame: int, value: float) -> int:
        """Move key ``index``; it cannot land on or pass another key's frame. Returns the new index."""
        frame = max(0, int(round(frame)))
        lo = self.keys[index - 1][0] + 1 if index > 0 else 0
        hi = self.keys[index + 1][0] - 1 if index + 1 < len(self.keys) else None
        frame = max(lo, frame if hi is None else min(hi, frame))
        self.keys[index] = (frame, self.clamp(value))
        return index

    def remove(self, index: int) -> None:
        del self.keys[index]

    def value_at(self, frame: float) -> float:
        """Interpolated value; before the first key the first value holds, after the last the last."""
        if not self.keys:
            return self.spec.default
        if frame <= self.keys[0][0]:
            return self.keys[0][1]
        if frame >= self.keys[-1][0]:
            return self.keys[-1][1]
        for (f0, v0), (f1, v1) in zip(self.keys, self.keys[1:]):
            if f0 <= frame <= f1:
                s = (frame - f0) / (f1 - f0)
                if self.interp == "smooth":
                    s = s * s * (3.0 - 2.0 * s)  # ease in and out: flat at every key, never overshoots
                return v0 + (v1 - v0) * s
        return self.keys[-1][1]

    def sample(self, num_frames: int) -> list[float]:
        return [self.value_at(t) for t in range(int(num_frames))]

    def file_keys(self) -> list[tuple[int, float]]:
        """The keys a linear reader needs to reproduce this curve exactly (baked when smooth)."""
        if self.interp == "linear" or len(self.keys) < 2:
            return list(self.keys)
        first, last = self.keys[0][0], self.keys[-1][0]
        return [(f, self.value_at(f)) for f in range(first, last + 1)]


def new_curves() -> dict[str, Curve]:
    """One empty curve per channel, with strength keyed at its default (1.0) on frame 0."""
    curves = {name: Curve(spec) for name, spec in CHANNELS.items()}
    curves["strength"].add(0, CHANNELS["strength"].default)
    return curves


def has_pose(curves: dict[str, Curve]) -> bool:
    return any(curves[c].keys for c in POSE_CHANNELS)


def job_curves(curves: dict[str, Curve], num_frames: int) -> dict:
    """The job fields for ``num_frames`` frames: per-frame ``strength`` and, when any pose curve has
    keys, per-frame ``pose`` rows ``[yaw, pitch, roll, 1, 0, 0]`` with ``pose_units: artist``."""
    n = max(1, int(num_frames))
    out: dict = {"strength": [round(v, 5) for v in curves["strength"].sample(n)]}
    if has_pose(curves):
        cols = [curves[c].sample(n) for c in POSE_CHANNELS]
        out["pose"] = [[round(y, 4), round(p, 4), round(r, 4), 1.0, 0.0, 0.0] for y, p, r in zip(*cols)]
        out["pose_units"] = "artist"
    return out


# --- files ---------------------------------------------------------------------------------------

def _pose_rows(curves: dict[str, Curve]) -> list[tuple[int, list[float]]]:
    """Pose keys on the union of the three channels' key frames (exact for a linear reader)."""
    frames = sorted({f for c in POSE_CHANNELS for f, _ in curves[c].file_keys()})
    return [(f, [curves[c].value_at(f) for c in POSE_CHANNELS] + [1.0, 0.0, 0.0]) for f in frames]


def save_strength(curve: Curve, path: Path) -> Path:
    """Write the strength curve as JSON or CSV (by the file's suffix)."""
    path = Path(path)
    if not curve.keys:
        raise CurveFileError("the strength curve has no keys: add one before saving")
    keys = curve.file_keys()
    if path.suffix.lower() == ".csv":
        lines = ["frame,strength"] + [f"{f},{_num(v)}" for f, v in keys]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    doc: dict = {"fps": FPS, "keys": [[f, _num(v)] for f, v in keys]}
    if curve.interp == "smooth":
        doc.update(interp="smooth", control_keys=[[f, _num(v)] for f, v in curve.keys])
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def save_pose(curves: dict[str, Curve], path: Path) -> Path:
    """Write the yaw/pitch/roll curves as one 6-wide pose curve in artist units (JSON or CSV)."""
    path = Path(path)
    if not has_pose(curves):
        raise CurveFileError("the yaw, pitch and roll curves have no keys: add one before saving")
    rows = _pose_rows(curves)
    if path.suffix.lower() == ".csv":
        lines = ["frame,yaw,pitch,roll,scale,offset_x,offset_y"]
        lines += [",".join([str(f)] + [str(_num(v)) for v in vals]) for f, vals in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    doc: dict = {"fps": FPS, "units": "artist", "keys": [[f, [_num(v) for v in vals]] for f, vals in rows]}
    smooth = {c: [[f, _num(v)] for f, v in curves[c].keys] for c in POSE_CHANNELS if curves[c].interp == "smooth"}
    if smooth:
        doc.update(interp="smooth", control_keys=smooth)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def _num(v: float) -> float:
    return round(float(v), 6)


def load_strength(path: Path) -> Curve:
    """Read a strength curve file (any layout the CLI reads)."""
    doc = _read_json(path)
    curve = Curve(CHANNELS["strength"])
    if isinstance(doc, dict) and doc.get("interp") == "smooth" and isinstance(doc.get("control_keys"), list):
        curve.interp = "smooth"
        pairs = _pairs(path, doc["control_keys"], FPS)
    else:
        pairs = _read_pairs(path, doc)
    for f, vals in pairs:
        curve.add(f, vals[0])
    return curve


def load_pose(path: Path) -> dict[str, Curve]:
    """Read a pose curve file into yaw/pitch/roll curves (3DDFA-unit files keep their angles)."""
    doc = _read_json(path)
    curves = {c: Curve(CHANNELS[c]) for c in POSE_CHANNELS}
    control = doc.get("control_keys") if isinstance(doc, dict) and doc.get("interp") == "smooth" else None
    pairs = _read_pairs(path, doc)
    if any(len(v) < 3 for _, v in pairs):
        raise CurveFileError(f"{Path(path).name}: pose keys need yaw, pitch and roll values")
    for i, c in enumerate(POSE_CHANNELS):
        if isinstance(control, dict) and isinstance(control.get(c), list):
            curves[c].interp = "smooth"
            for f, vals in _pairs(path, control[c], FPS):
                curves[c].add(f, vals[0])
        else:
            for f, vals in pairs:
                curves[c].add(f, vals[i])
    return curves


def _read_json(path: Path):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CurveFileError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CurveFileError(f"{path.name} is not valid JSON (line {exc.lineno})") from None
    return text


def _read_pairs(path: Path, doc) -> list[tuple[int, list[float]]]:
    if isinstance(doc, str):
        return _csv_pairs(path, doc)
    fps = FPS
    if isinstance(doc, dict) and "keys" in doc:
        fps = float(doc.get("fps", FPS))
        doc = doc["keys"]
    if isinstance(doc, dict):
        doc = list(doc.items())
    if not isinstance(doc, list):
        raise CurveFileError(f"{Path(path).name}: a curve must be an object or a list of keys")
    return _pairs(path, doc, fps)


def _pairs(path: Path, items: list, fps: float) -> list[tuple[int, list[float]]]:
    out = []
    try:
        for item in items:
            f, v = (item.get("frame"), item.get("value")) if isinstance(item, dict) else tuple(item)[:2]
            vals = [float(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
            if not all(math.isfinite(x) for x in vals):
                raise ValueError
            out.append((int(round(float(f) * FPS / fps)), vals))
    except (TypeError, ValueError, AttributeError):
        raise CurveFileError(f"{Path(path).name}: every key needs a frame number and numeric values") from None
    if not out:
        raise CurveFileError(f"{Path(path).name}: the curve has no keys")
    return out


def _csv_pairs(path: Path, text: str) -> list[tuple[int, list[float]]]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rows = []
    for n, row in enumerate(csv.reader(io.StringIO("\n".join(lines)))):
        cells = [c.strip() for c in row if c.strip()]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if n:
                raise CurveFileError(f"{Path(path).name}: row {n + 1} is not numbers") from None
    if any(len(r) < 2 for r in rows):
        raise CurveFileError(f"{Path(path).name}: a curve row needs a frame and a value")
    return _pairs(path, [(r[0], r[1:]) for r in rows], FPS)
