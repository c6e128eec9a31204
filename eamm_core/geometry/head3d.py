"""A 3D 68-point mean face, weak-perspective pose fitting and projection.

The model (:func:`mean_face_3d`) is the 2D alignment template (``eamm_core/data/template_68.csv``,
a frontal mean face, made mirror-symmetric) lifted to 3D with depth values written here. Units: the template's
inter-ocular distance (centre of the right eye to centre of the left eye) is 1, the origin is the
midpoint between the eye centres. Axes: x to the image right, y DOWN (image convention), z toward
the camera. Depths (:data:`DEPTH`) are rounded anthropometric guesses in inter-ocular units: the
nose tip 0.42 in front of the eye corners' plane, the mouth 0.1-0.2, the jaw line receding to
-0.95 at the ears, the outer eye corners and brow ends set back. They only need to be plausible
for +-30 degrees (weak perspective): the same model both measures the portrait's pose and moves
its landmarks, so the pose the engine asks for is the pose this fit measures on its output.

Angles follow 3DDFA's signs (checked on the fixture portraits 21, 60 and 7 against the 3DDFA
poses in ``fixtures/pose``: yaw agrees within 1 degree, pitch within 2): positive yaw turns the
nose toward image LEFT (the subject's right), positive pitch lowers the nose (the subject looks
down), positive roll rotates the face counter-clockwise on screen.
``R = Rz(-roll) @ Ry(-yaw) @ Rx(pitch)`` acts on model points (y down, z to the camera).
Projection is weak perspective: ``p = s * (R X)[:2] + t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from eamm_core.geometry.face2d import load_template

#: depth per iBUG landmark (inter-ocular units, toward the camera positive)
DEPTH = np.array(
    [-0.95, -0.90, -0.80, -0.66, -0.48, -0.30, -0.14, -0.02, 0.03, -0.02, -0.14, -0.30, -0.48,
     -0.66, -0.80, -0.90, -0.95,                                   # jaw 0-16
     -0.30, -0.12, 0.00, 0.06, 0.08, 0.08, 0.06, 0.00, -0.12, -0.30,  # brows 17-26
     0.06, 0.16, 0.28, 0.42,                                     # nose bridge 27-30
     0.12, 0.20, 0.26, 0.20, 0.12,                               # lower nose 31-35
     -0.20, -0.06, -0.04, -0.04, -0.06, -0.10,                   # right eye 36-41
     -0.04, -0.04, -0.06, -0.20, -0.10, -0.06,                   # left eye 42-47
     -0.04, 0.09, 0.16, 0.19, 0.16, 0.09, -0.04,                 # outer upper lip 48-54
     0.08, 0.13, 0.15, 0.13, 0.08,                               # outer lower lip 55-59
     0.00, 0.12, 0.14, 0.12, 0.00,                               # inner upper lip 60-64
     0.10, 0.12, 0.10],                                          # inner lower lip 65-67
    dtype=np.float64,
)
#: iBUG index of each landmark's mirror image (left <-> right)
MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48] + [59, 58, 57, 56, 55] + [64, 63, 62, 61, 60] + [67, 66, 65],
    dtype=int,
)
#: the head turns about a point behind the face (inter-ocular units, model frame); a real neck
#: pivot is further back, but every pixel of sideways travel has to come out of the 2D warp
PIVOT = np.array([0.0, 0.4, -0.5])


@lru_cache(maxsize=1)
def _mean_face() -> np.ndarray:
    tpl = load_template().astype(np.float64)
    right_eye, left_eye = tpl[36:42].mean(0), tpl[42:48].mean(0)
    centre = (right_eye + left_eye) / 2.0
    iod = float(np.linalg.norm(left_eye - right_eye))
    xy = (tpl - centre) / iod
    # the template is slightly asymmetric (its nose sits right of the eyes' midpoint); a frontal
    # model must be mirror-symmetric, so average it with its own mirror image
    mirrored = xy[MIRROR] * np.array([-1.0, 1.0])
    xy = (xy + mirrored) / 2.0
    pts = np.concatenate([xy, DEPTH[:, None]], axis=1)
    pts.setflags(write=False)
    return pts


def mean_face_3d() -> np.ndarray:
    """The 3D mean face, float64 [68,3] (a copy)."""
    return _mean_face().copy()


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation from angles in degrees (see the module docstring for the conventions)."""
    y, p, r = np.deg2rad([-yaw, pitch, -roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def angles_from_matrix(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of ``rot`` = Rz(-roll) Ry(-yaw) Rx(pitch)."""
    r = np.asarray(rot, np.float64)
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2]) * -1.0
    roll = np.arctan2(r[1, 0], r[0, 0])
    return -float(np.rad2deg(yaw)), float(np.rad2deg(pitch)), -float(np.rad2deg(roll))


@dataclass(frozen=True)
class HeadPose:
    """A weak-perspective fit: ``p = scale * (R X)[:2] + t``; angles in degrees, scale in crop
    pixels per inter-ocular unit, ``t`` in pixels."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    tx: float
    ty: float

    @property
    def rotation(self) -> np.ndarray:
        return rotation_matrix(self.yaw, self.pitch, self.roll)

    def as_array(self) -> np.ndarray:
        return np.array([self.yaw, self.pitch, self.roll, self.scale, self.tx, self.ty], np.float64)


#: landmarks used to fit the pose: everything but the inner lips and the lower jaw (speech moves them)
FIT_POINTS = np.array(list(range(0, 5)) + list(range(12, 48)) + [48, 54], dtype=int)
#: weight of the jaw contour (0-16) in the fit, against 1 for the rigid inner points (brows, nose,
#: eye corners and lids, mouth corners). The contour is a silhouette, not a fixed point of the
#: face: as the head turns it slides over the cheek (and dlib places it from the outline it sees),
#: so trusting it like the inner points under-reads a turn.
CONTOUR_WEIGHT = 0.3


def fit_weights(points: np.ndarray | None = None) -> np.ndarray:
    """Per-landmark weights [68] of :func:`estimate_pose`: :data:`FIT_POINTS` (or ``points``), the
    jaw contour down-weighted to :data:`CONTOUR_WEIGHT`, every other landmark 0."""
    w = np.zeros(68)
    w[FIT_POINTS if points is None else np.asarray(points, int)] = 1.0
    w[:17] *= CONTOUR_WEIGHT
    return w


def estimate_pose(landmarks68: np.ndarray, points: np.ndarray | None = None,
                  weights: np.ndarray | None = None) -> HeadPose:
    """Fit the mean face to 2D landmarks [68,2] (any pixel frame): an affine camera by weighted
    least squares (``weights`` [68], default :func:`fit_weights` of ``points``), then the nearest
    scaled rotation (orthonormalised rows)."""
    w = fit_weights(points) if weights is None else np.asarray(weights, np.float64).reshape(68)
    idx = np.flatnonzero(w)
    w = w[idx]
    x3 = _mean_face()[idx]
    x2 = np.asarray(landmarks68, np.float64)[idx]
    mu3, mu2 = w @ x3 / w.sum(), w @ x2 / w.sum()
    sw = np.sqrt(w)[:, None]
    a, *_ = np.linalg.lstsq((x3 - mu3) * sw, (x2 - mu2) * sw, rcond=None)  # [3,2]: x2c ≈ x3c @ a
    m = a.T  # [2,3]
    u, sig, vt = np.linalg.svd(m, full_matrices=False)
    rows = u @ vt  # closest matrix with orthonormal rows
    scale = float(sig.mean())
    r3 = np.cross(rows[0], rows[1])
    rot = np.stack([rows[0], rows[1], r3])
    if np.linalg.det(rot) < 0:
        rot[2] *= -1.0
    yaw, pitch, roll = angles_from_matrix(rot)
    t = mu2 - scale * (rot @ mu3)[:2]
    return HeadPose(yaw, pitch, roll, scale, float(t[0]), float(t[1]))


def project(points3d: np.ndarray, pose: HeadPose) -> np.ndarray:
    """Weak-perspective projection of model-frame points [...,3] -> pixels [...,2] (float64)."""
    p = np.asarray(points3d, np.float64) @ pose.rotation.T
    return pose.scale * p[..., :2] + np.array([pose.tx, pose.ty])


def lift(landmarks: np.ndarray, pose: HeadPose) -> np.ndarray:
    """Lift 2D landmarks [...,68,2] to model-frame 3D points [...,68,3]: each point keeps its image
    position exactly and takes its depth from the mean face (camera-frame depth under ``pose``)."""
    lm = np.asarray(landmarks, np.float64)
    rot = pose.rotation
    cam_z = (_mean_face() @ rot.T)[:, 2]  # depth of each model point in camera space, model units
    cam = np.concatenate([(lm - [pose.tx, pose.ty]) / pose.scale,
                          np.broadcast_to(cam_z[:, None], lm.shape[:-1] + (1,))], axis=-1)
    return cam @ rot  # back to the model frame (rot is orthonormal)


def repose(landmarks: np.ndarray, source: HeadPose, target: HeadPose) -> np.ndarray:
    """Move landmarks [...,68,2] drawn under ``source`` to ``target``: lift with the mean face's
    depth, re-project under the target rotation, scale and translation. float64."""
    return project(lift(landmarks, source), target)
