"""Head pose from a video: the head motion of the person in it, per 25 fps frame.

Each frame (resampled by time) goes through the 68-landmark detector; the landmarks are fitted
with the 3D mean face (:func:`eamm_core.geometry.head3d.estimate_pose`, weak perspective), giving
yaw, pitch and roll in 3DDFA's signs. Scale and position become the artist convention (scale
multiplier, offsets as fractions of the aligned crop's width) and are stored through
:func:`eamm_core.geometry.pose_units.pose_from_artist`, so a video pose is a normal
:class:`~eamm_core.types.PoseTrack` (``source="video"``; the engine takes scale and offsets relative
to the first frame). The track is smoothed (Savitzky-Golay, 7 frames) against landmark jitter.
Frames without a face hold the previous pose; a shorter video is extended by ping-pong.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy.signal import savgol_filter

from eamm_core.cancel import check_cancelled
from eamm_core.errors import InputError
from eamm_core.geometry.face2d import load_template
from eamm_core.geometry.head3d import estimate_pose
from eamm_core.geometry.pose_units import pose_from_artist
from eamm_core.prepare.common import extend_ping_pong
from eamm_core.prepare.landmark_models import FaceTracker
from eamm_core.prepare.landmark_models import landmarker as get_landmarker
from eamm_core.prepare.video import iter_frames
from eamm_core.types import PoseTrack

log = logging.getLogger(__name__)

SMOOTH_WINDOW = 7
NO_FACE_FIX = "use a video where one face is visible, frontal and at least 80 px wide"


def poses_from_landmarks(marks: np.ndarray) -> np.ndarray:
    """Landmarks [T,68,2] in video pixels -> artist values [T,6] (yaw, pitch, roll, scale
    multiplier, offset_x, offset_y relative to the first frame, offsets in aligned-crop widths)."""
    crop_scale = estimate_pose(load_template()).scale  # crop pixels per inter-ocular unit
    fits = [estimate_pose(m) for m in marks]
    s0 = fits[0].scale
    crop_width = 256.0 * s0 / crop_scale  # the aligned crop's width in video pixels
    rows = [[f.yaw, f.pitch, f.roll, f.scale / s0, (f.tx - fits[0].tx) / crop_width,
             (f.ty - fits[0].ty) / crop_width] for f in fits]
    return np.asarray(rows, np.float64)


def pose_from_video(path: str | Path, num_frames: int, landmarks: str | None = None) -> PoseTrack:
    """The head pose of the person in the video at ``path`` for ``num_frames`` frames (landmark
    model ``landmarks``, None = the default)."""
    path = Path(path)
    track = FaceTracker(get_landmarker(landmarks), upsamples=(1,))
    marks, last, missing = [], None, 0
    for _, frame in iter_frames(path, 25.0, max(1, int(num_frames))):
        check_cancelled()
        lm = track(frame)
        if lm is None:
            missing += 1
            if last is None:
                continue
            lm = last
        marks.append(lm)
        last = lm
    if not marks:
        raise InputError(path, "no face found in the pose video", NO_FACE_FIX)
    if missing:
        log.warning("no face in %d frames of %s: they hold the previous pose", missing, path.name)
    art = poses_from_landmarks(np.stack(marks))
    if len(art) >= SMOOTH_WINDOW:
        art = savgol_filter(art, SMOOTH_WINDOW, 2, axis=0)
    values = pose_from_artist(*art.T)
    return PoseTrack(extend_ping_pong(values, max(1, int(num_frames))).astype(np.float32), source="video")
