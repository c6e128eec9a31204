"""The landmark engine's ten keypoints: groups of the 68 iBUG landmarks.

A keypoint is the centroid of one landmark group (its zero-order motion) and a 2x2 jacobian, the
least-squares linear map taking the group's centred source landmarks to its centred driven
landmarks (its first-order motion) -- the FOMM/EAMM representation computed from landmarks.

Groups (iBUG indices; "right" is the subject's right, image left)::

    0 jaw_right   0-5        5 nose_bridge 27-30
    1 chin        6-10       6 nostrils    31-35
    2 jaw_left    11-16      7 eyes        36-47 (both eyes: a blink is one y-squash)
    3 brow_right  17-21      8 upper_lip   48-54, 60-64 (outer and inner upper lip + corners)
    4 brow_left   22-26      9 lower_lip   54-60, 64-67, 48, 60 (lower lip + corners)

The mouth corners (48, 54, 60, 64) belong to both lip groups; a landmark in several groups is
reconstructed as the mean of its groups' predictions, so the corners follow the jaw half-way.
The lip groups' keypoints are FITTED without the corners (:data:`FIT_GROUPS`): the corners go
half-way, so including them would pull both lips' fits toward each other and a closed mouth
would not close exactly.

:data:`FACE_KEYPOINTS` = (3, 4, 7): right brow, left brow and the eyes -- the paper's three
"face-related" keypoints, acting on the upper face (brows, eyes and, through the lower lids, the
cheeks), never on the mouth. Emotion displacements are added to these three only.
"""

from __future__ import annotations

import numpy as np

from eamm_core.types import Keypoints, norm_to_px, px_to_norm

GROUP_NAMES = (
    "jaw_right", "chin", "jaw_left", "brow_right", "brow_left",
    "nose_bridge", "nostrils", "eyes", "upper_lip", "lower_lip",
)
GROUPS: tuple[tuple[int, ...], ...] = (
    tuple(range(0, 6)),
    tuple(range(6, 11)),
    tuple(range(11, 17)),
    tuple(range(17, 22)),
    tuple(range(22, 27)),
    tuple(range(27, 31)),
    tuple(range(31, 36)),
    tuple(range(36, 48)),
    tuple(range(48, 55)) + tuple(range(60, 65)),
    tuple(range(54, 61)) + tuple(range(64, 68)) + (48,),
)
NUM_KEYPOINTS = len(GROUPS)
_CORNERS = {48, 54, 60, 64}
#: the landmarks each keypoint is fitted on (its centroid is theirs): GROUPS less the mouth corners
FIT_GROUPS: tuple[tuple[int, ...], ...] = tuple(
    tuple(i for i in idx if not (g in (8, 9) and i in _CORNERS)) for g, idx in enumerate(GROUPS))
#: right brow, left brow, eyes: the three face-related keypoints (upper face, not the mouth)
FACE_KEYPOINTS: tuple[int, int, int] = (3, 4, 7)
UPPER_LIP, LOWER_LIP, EYES, CHIN = 8, 9, 7, 1
JAW_RIGHT, JAW_LEFT = 0, 2


def _membership() -> np.ndarray:
    """[68, 10] 0/1 matrix: landmark i belongs to group g."""
    m = np.zeros((68, NUM_KEYPOINTS), np.float64)
    for g, idx in enumerate(GROUPS):
        m[list(idx), g] = 1.0
    if (m.sum(1) == 0).any():
        raise AssertionError("every landmark must belong to a group")
    return m


MEMBERSHIP = _membership()


def fit_group(src: np.ndarray, drv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid [T,2] and least-squares 2x2 map [T,2,2] taking centred ``src`` [n,2] to centred
    ``drv`` [T,n,2] (``drv_c ≈ J @ src_c``)."""
    src = np.asarray(src, np.float64)
    drv = np.asarray(drv, np.float64)
    cs = src - src.mean(0)
    cd = drv - drv.mean(1, keepdims=True)
    gram = cs.T @ cs  # [2,2]
    # a small ridge towards the identity keeps near-collinear groups (the nose bridge) well posed
    lam = 1e-5 * float(np.trace(gram)) + 1e-9
    cross = np.einsum("tni,nj->tij", cd, cs)  # sum_n d_n s_n^T
    jac = (cross + lam * np.eye(2)) @ np.linalg.inv(gram + lam * np.eye(2))
    return drv.mean(1), jac


def keypoints_from_landmarks(src_lm: np.ndarray, drv_lm: np.ndarray) -> Keypoints:
    """Keypoints of driven landmarks ``drv_lm`` [T,68,2] (or [68,2]) relative to ``src_lm`` [68,2],
    both in crop pixels. Values are normalised to [-1,1]; jacobians are unitless."""
    drv = np.asarray(drv_lm, np.float64)
    if drv.ndim == 2:
        drv = drv[None]
    src = np.asarray(src_lm, np.float64)
    values = np.zeros((drv.shape[0], NUM_KEYPOINTS, 2), np.float64)
    jacs = np.zeros((drv.shape[0], NUM_KEYPOINTS, 2, 2), np.float64)
    for g, idx in enumerate(FIT_GROUPS):
        ix = list(idx)
        values[:, g], jacs[:, g] = fit_group(src[ix], drv[:, ix])
    return Keypoints(px_to_norm(values), jacs.astype(np.float32))


def landmarks_from_keypoints(src_lm: np.ndarray, kp: Keypoints) -> np.ndarray:
    """Driven landmarks [T,68,2] (crop pixels, float32): each group's landmarks are
    ``kp_value_px + J · (src_group − src_centroid)`` (centroid of the group's :data:`FIT_GROUPS`
    landmarks); landmarks shared by groups take the mean."""
    src = np.asarray(src_lm, np.float64)
    vals = norm_to_px(kp.value).astype(np.float64)
    jac = np.asarray(kp.jacobian, np.float64)
    out = np.zeros((vals.shape[0], 68, 2), np.float64)
    for g, idx in enumerate(GROUPS):
        ix = list(idx)
        cs = src[ix] - src[list(FIT_GROUPS[g])].mean(0)
        out[:, ix] += vals[:, g, None, :] + np.einsum("tij,nj->tni", jac[:, g], cs)
    out /= MEMBERSHIP.sum(1)[None, :, None]
    return out.astype(np.float32)


def group_centroids_px(lm: np.ndarray) -> np.ndarray:
    """Centroid of every group [..., 10, 2] for landmarks [..., 68, 2]."""
    lm = np.asarray(lm, np.float64)
    return np.stack([lm[..., list(idx), :].mean(-2) for idx in FIT_GROUPS], axis=-2)
