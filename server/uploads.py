"""Upload validation per role, by the same prepare functions a job will use.

Each validator takes the stored file (named by its hash and sniffed extension) and returns
``(info, warnings)`` or raises :class:`~eamm_core.errors.EammError` with a one-line message.
Validators run in a worker thread (they decode images, audio and video).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from eamm_core import MODEL_FPS
from eamm_core.errors import EammError, InputError

MAX_VIDEO_FRAMES = 25 * 60 * 10  # ten minutes at 25 fps is already far more than any clip needs


def display_name(name: str | None) -> str:
    """A client file name made safe to show (never used as a path): last component, printable."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:200] or "upload"


def _portrait(path: Path) -> tuple[dict, list[str]]:
    from eamm_core.prepare.portrait import load_portrait

    crop = load_portrait(path)
    h, w = crop.original.shape[:2]
    info = {"width": int(w), "height": int(h), "face_box": [int(v) for v in crop.face_box],
            "alpha": bool(crop.mask.min() < 1.0)}
    return info, list(crop.warnings)


def _audio(path: Path) -> tuple[dict, list[str]]:
    from eamm_core.prepare.audio import load_audio

    audio = load_audio(path)
    info = {"duration_s": round(audio.duration_s, 3), "frames": audio.num_frames, "fps": MODEL_FPS}
    return info, list(audio.warnings)


def _video_summary(path: Path, need_face: bool) -> dict:
    """Frame count at 25 fps, size and source fps, reading one frame at a time."""
    from eamm_core.prepare.video import iter_frames, probe_fps

    count, first = 0, None
    for _, frame in iter_frames(path, MODEL_FPS, MAX_VIDEO_FRAMES):
        first = frame if first is None else first
        count += 1
    if first is None:
        raise InputError(path, "no frames could be read", "re-export the clip as H.264 MP4")
    if need_face:
        from eamm_core.prepare.landmark_models import landmarker, upload_check_model

        if not landmarker(upload_check_model()).detect(first):
            raise InputError(path, "no face found in the first frame",
                             "use a clip of one face looking at the camera")
    h, w = first.shape[:2]
    return {"frames": count, "fps": MODEL_FPS, "source_fps": round(probe_fps(path), 3),
            "width": int(w), "height": int(h)}


def _preset(path: Path) -> tuple[dict, list[str]]:
    try:
        from eamm_core.presets import load_preset
    except ImportError:
        raise EammError("emotion presets are not supported by this installation: upload a video") from None
    preset = load_preset(path)
    return {"preset": preset.name, "frames": len(preset.displacements)}, []


def _pose_table(path: Path) -> tuple[dict, list[str]]:
    from eamm_core.curves import is_keyed_curve, load_pose_curve
    from eamm_core.prepare.pose import load_pose, validate_pose

    if is_keyed_curve(path):  # frame,yaw,... keys: read as the job will (errors name the row)
        values = load_pose_curve(path)
        validate_pose(values, path)
        return {"frames": int(len(values)), "fps": MODEL_FPS, "keyed": True}, []
    load_pose(path, 1)  # validates shape, numbers and angle ranges
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
        frames = 1 if arr.ndim == 1 else int(arr.shape[0])
    else:
        rows = [r for r in path.read_text(encoding="utf-8").splitlines() if r.strip() and r[0] not in "#"]
        frames = sum(1 for r in rows if re.match(r"\s*[-+0-9.]", r))
    return {"frames": frames, "fps": MODEL_FPS}, []


def validate_upload(role: str, kind: str, path: Path) -> tuple[dict, list[str]]:
    """Check a stored upload for ``role``; returns ``(info, warnings)``."""
    if role == "portrait":
        return _portrait(path)
    if role == "audio":
        return _audio(path)
    if role in ("emotion", "neutral") and kind == "video":
        return _video_summary(path, need_face=True), []
    if role == "emotion" and kind == "preset":
        return _preset(path)
    if role == "pose" and kind == "video":
        return _video_summary(path, need_face=True), []
    if role == "pose":
        return _pose_table(path)
    raise EammError(f"a {kind} file cannot be used as {role}")
