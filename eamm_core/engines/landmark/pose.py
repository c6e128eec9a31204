"""Head pose for the landmark engine: target poses per frame and re-posed landmarks.

A :class:`~eamm_core.types.PoseTrack` holds 3DDFA values [yaw, pitch, roll (deg), s, tx, ty].
Angles are absolute: the driven head takes them, and the landmarks are moved from the portrait's
own estimated pose (:func:`eamm_core.geometry.head3d.estimate_pose` on the crop landmarks) to it
through the 3D mean face. Scale and offsets (``artist_from_pose``) are absolute w.r.t. the portrait
for ``source="curve"`` (artist-unit keyed curves and poses; 1 and 0 leave it unchanged) and relative to the track's first frame for
files and videos. ``"none"`` keeps the portrait's pose; with ``idle_motion`` (or ``"idle"``) a
seeded, slow, small wander is added (about +-2.5 deg yaw, +-1.5 deg pitch, +-1 deg roll).
"""

from __future__ import annotations

import numpy as np

from eamm_core.geometry.head3d import PIVOT, HeadPose, lift, rotation_matrix
from eamm_core.geometry.pose_units import artist_from_pose
from eamm_core.types import PoseTrack

FPS = 25.0
IDLE_AMPLITUDE = np.array([2.5, 1.5, 1.0])  # yaw, pitch, roll degrees (peak of the sum)
CROP = 256.0


def idle_motion(num_frames: int, seed: int) -> np.ndarray:
    """[T,3] smooth seeded angle offsets (yaw, pitch, roll degrees): three slow sinusoids each."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x1D1E])
    t = np.arange(num_frames) / FPS
    out = np.zeros((num_frames, 3))
    for axis in range(3):
        freqs = rng.uniform(0.05, 0.35, size=3)
        phases = rng.uniform(0, 2 * np.pi, size=3)
        weights = rng.uniform(0.5, 1.0, size=3)
        wave = (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None] + phases[:, None])).sum(0)
        out[:, axis] = IDLE_AMPLITUDE[axis] * wave / weights.sum()
    return out


def target_poses(track: PoseTrack, portrait: HeadPose, num_frames: int, *, idle: bool, seed: int,
                 src_lm: np.ndarray | None = None) -> list[HeadPose]:
    """The driven head pose of every frame (crop pixels). With the portrait's landmarks ``src_lm``
    the angles are corrected for the keypoint layer (:func:`keypoint_corrected`)."""
    n = num_frames
    src = np.array([portrait.yaw, portrait.pitch, portrait.roll])
    if track.source in ("none", "idle") or len(track) == 0:
        angles = np.repeat(src[None], n, 0)
        scale, off = np.ones(n), np.zeros((n, 2))
        idle = idle or track.source == "idle"
    else:
        vals = _fit_length(np.asarray(track.values, np.float64), n)
        art = artist_from_pose(vals).astype(np.float64)
        angles = art[:, :3]
        scale, off = art[:, 3], art[:, 4:6]
        if track.source != "curve":
            scale = scale / max(scale[0], 1e-9)
            off = off - off[0]
    if idle:
        angles = angles + idle_motion(n, seed)
    if src_lm is not None:
        angles = keypoint_corrected(np.asarray(src_lm, np.float64), portrait, angles, scale, off)
    return [_pose_at(portrait, angles[t], scale[t], off[t]) for t in range(n)]


def keypoint_corrected(src_lm: np.ndarray, portrait: HeadPose, angles: np.ndarray, scale: np.ndarray,
                       off: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Angles [T,3] to drive so that the landmarks the renderer gets -- the re-posed landmarks
    passed through the keypoints (one affine per group) -- measure ``angles``.

    A group's affine cannot carry all of a 3D turn (the two eyes are one group: the far eye's
    foreshortening is lost), so the re-posed landmarks seen through the keypoints measure up to
    ~20 % less turn than asked. Each distinct pose is corrected by fixed-point iteration on the
    portrait's own landmarks (mouth and blinks play no part, so speech never moves the head).
    Frames at the portrait's own angles are left exactly as they are."""
    from eamm_core.engines.landmark.groups import keypoints_from_landmarks, landmarks_from_keypoints
    from eamm_core.geometry.head3d import estimate_pose

    own = np.array([portrait.yaw, portrait.pitch, portrait.roll])
    out = np.array(angles, np.float64, copy=True)
    rows = np.concatenate([out, np.asarray(scale, np.float64)[:, None], np.asarray(off, np.float64)], axis=1)
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    moved = np.flatnonzero(np.abs(uniq[:, :3] - own).max(axis=1) >= 1e-6)
    if len(moved) == 0:
        return out
    want = uniq[moved, :3]
    cmd = want.copy()
    for _ in range(iterations):
        poses = [_pose_at(portrait, c, r[3], r[4:6]) for c, r in zip(cmd, uniq[moved])]
        lm = repose_sequence(np.broadcast_to(src_lm, (len(moved), 68, 2)), portrait, poses)
        seen = landmarks_from_keypoints(src_lm, keypoints_from_landmarks(src_lm, lm))
        got = np.array([[g.yaw, g.pitch, g.roll] for g in map(estimate_pose, seen)])
        cmd = cmd + (want - got)
    fixed = uniq[:, :3].copy()
    fixed[moved] = cmd
    return fixed[inverse]


def _fit_length(values: np.ndarray, n: int) -> np.ndarray:
    if len(values) >= n:
        return values[:n]
    return np.concatenate([values, np.repeat(values[-1:], n - len(values), 0)], 0)


def _pose_at(portrait: HeadPose, angles: np.ndarray, scale: float, off: np.ndarray) -> HeadPose:
    """Rotate about :data:`PIVOT` (behind the face), then scale about it and shift."""
    r_src = portrait.rotation
    r_tgt = rotation_matrix(*angles)
    s = portrait.scale * float(scale)
    pivot_img = portrait.scale * (r_src @ PIVOT)[:2] + [portrait.tx, portrait.ty]
    t = pivot_img - s * (r_tgt @ PIVOT)[:2] + np.asarray(off) * CROP
    return HeadPose(float(angles[0]), float(angles[1]), float(angles[2]), s, float(t[0]), float(t[1]))


def repose_sequence(lm: np.ndarray, portrait: HeadPose, targets: list[HeadPose]) -> np.ndarray:
    """Landmarks [T,68,2] drawn at the portrait's pose -> at each frame's target pose."""
    lm = np.asarray(lm, np.float64)
    out = np.empty_like(lm)
    for t, tgt in enumerate(targets):
        pts = lift(lm[t], portrait) @ tgt.rotation.T
        out[t] = tgt.scale * pts[:, :2] + [tgt.tx, tgt.ty]
    return out
