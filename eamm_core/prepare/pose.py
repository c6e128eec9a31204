"""Head pose per 25 fps frame -> :class:`~eamm_core.types.PoseTrack` (the reference
implementation's convention).

Values are always in the 3DDFA_V2 convention the networks were trained on: ``[yaw, pitch, roll]``
in degrees, then the weak-perspective scale ``s`` and translation ``tx, ty`` of 3DDFA's 120x120
input crop (raw, not normalised; artist units convert with :mod:`eamm_core.geometry.pose_units`).
Sources:

* a 3DDFA ``.npy`` from EAMM's patched 3DDFA_V2 (``N x 7`` or ``1 x 7``; the last column, tz, is
  dropped), a ``[T,6]`` ``.npy`` or a ``.csv``/``.txt`` with 6 or 7 columns (header allowed);
* a video (delegated to :mod:`eamm_core.prepare.pose_video`);
* an array; ``None`` gives the neutral frontal pose.

One row is repeated; a shorter sequence is extended by ping-pong (forward, backward, ...) so it
never jumps; a longer one is cut. Optional One-Euro smoothing uses the reference's parameters.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from eamm_core.errors import EammError, InputError
from eamm_core.geometry.pose_units import REF_SCALE, REF_TX, REF_TY
from eamm_core.prepare.common import extend_ping_pong
from eamm_core.types import PoseTrack

log = logging.getLogger(__name__)

#: the demo's smooth_pose One-Euro parameters (freq 100, dcutoff 1)
SMOOTH_MINCUTOFF = 0.004
SMOOTH_BETA = 0.7
MAX_ANGLE = 90.0
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def neutral_pose(num_frames: int) -> np.ndarray:
    """Frontal pose at the reference scale and position, [T,6] float32."""
    row = np.array([0.0, 0.0, 0.0, REF_SCALE, REF_TX, REF_TY], np.float32)
    return np.repeat(row[None], max(1, int(num_frames)), axis=0)


def one_euro(x: np.ndarray, mincutoff: float, beta: float, dcutoff: float = 1.0, freq: float = 100.0) -> np.ndarray:
    """One-Euro filter (Casiez et al. 2012) along axis 0 of ``x`` [T,...], element-wise."""
    x = np.asarray(x, np.float64)
    if len(x) < 2:
        return x.copy()
    te = 1.0 / freq

    def alpha(cutoff):
        tau = 1.0 / (2.0 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    out = np.empty_like(x)
    out[0] = x[0]
    dx_hat = np.zeros_like(x[0])
    a_d = alpha(dcutoff)
    for t in range(1, len(x)):
        dx = (x[t] - out[t - 1]) / te
        dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
        a = alpha(mincutoff + beta * np.abs(dx_hat))
        out[t] = a * x[t] + (1.0 - a) * out[t - 1]
    return out


def _read_table(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix in (".csv", ".txt"):
            return _read_csv_table(path)
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(path, f"unreadable pose file ({str(exc).splitlines()[0][:120]})",
                         "use a 3DDFA .npy (N x 7) or a CSV with 6 columns yaw,pitch,roll,scale,tx,ty") from None
    raise InputError(path, f"unsupported pose file type '{suffix}'",
                     "use a 3DDFA .npy, a [T,6] .npy or .csv, or a video")


def _read_csv_table(path: Path) -> np.ndarray:
    """Rows of numbers (an optional header); a NaN or infinite value is refused naming its row
    (the file's line number)."""
    numbered = [(n, ln) for n, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ln.strip()]
    if numbered and not _is_numeric_row(numbered[0][1]):
        numbered = numbered[1:]  # header
    delim = "," if any("," in ln for _, ln in numbered) else None
    rows = []
    for n, ln in numbered:
        row = [float(v) for v in ln.split(delim)]
        if not all(np.isfinite(row)):
            raise InputError(path, f"pose contains NaN or an infinite value in row {n}",
                             "give a number in every column of that row")
        rows.append(row)
    return np.array(rows, np.float64)


def _is_numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.replace(",", " ").split()]
        return True
    except ValueError:
        return False


def validate_pose(values: np.ndarray, path: Path | None) -> np.ndarray:
    """Shape -> [N,6] float64 (7 columns: last dropped); finite; |angles| <= 90 degrees."""
    fix = "use a 3DDFA .npy (N x 7) or a [T,6] array of yaw, pitch, roll (degrees), scale, tx, ty"
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu" or arr.size == 0:
        raise InputError(path, f"pose data must be numbers, got {arr.dtype} of shape {arr.shape}", fix,
                         field="pose")
    if arr.ndim == 1 and arr.shape[0] in (6, 7):
        arr = arr[None]
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 2 or arr.shape[1] not in (6, 7):
        raise InputError(path, f"pose has shape {arr.shape}, expected N x 7 (3DDFA) or N x 6", fix, field="pose")
    arr = arr[:, :6].astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise InputError(path, f"pose contains NaN or infinite values (first at row {bad})", fix, field="pose")
    worst = float(np.abs(arr[:, :3]).max())
    if worst > MAX_ANGLE:
        raise InputError(path, f"pose angle {worst:.1f} degrees is outside +-90", "angles must be in degrees "
                         "(yaw, pitch, roll first); convert radians with x * 57.2958", field="pose")
    return arr


def _from_video(path: Path, num_frames: int, landmarks: str | None) -> PoseTrack:
    try:
        from eamm_core.prepare.pose_video import pose_from_video
    except ImportError:
        raise EammError(f"pose from a video ({path.name}) is not available in this installation: "
                        "use a 3DDFA .npy or a CSV pose file") from None
    return pose_from_video(path, num_frames, landmarks)


def load_pose(source: str | Path | np.ndarray | None, num_frames: int, *, smooth: bool = False,
              absolute: bool = False, landmarks: str | None = None) -> PoseTrack:
    """Pose for ``num_frames`` frames from a file, an array or nothing (see module docstring).
    ``absolute``: the values are absolute targets (a keyed curve, artist units): source ``"curve"``.
    ``landmarks``: the landmark model that tracks a pose video (None = the default)."""
    if source is None:
        return PoseTrack(neutral_pose(num_frames), source="none")
    path = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(path, "file not found", "check the path")
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return _from_video(path, num_frames, landmarks)
        raw = _read_table(path)
    else:
        raw = source
    values = validate_pose(raw, path)
    if smooth and len(values) > 1:
        values = one_euro(values, SMOOTH_MINCUTOFF, SMOOTH_BETA, 1.0, 100.0)
    values = extend_ping_pong(values, max(1, int(num_frames)))
    return PoseTrack(values.astype(np.float32), source="curve" if absolute else "file")
