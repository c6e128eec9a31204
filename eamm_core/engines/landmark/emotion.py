"""Emotion displacements from an emotion clip's landmarks (the landmark engine's E_e + P_d).

Per frame, the clip's upper-face landmarks (brows, eyes) are compared with a NEUTRAL reference of
the clip's own actor, in the actor's unit face frame (similarity-aligned on landmarks emotion hardly
moves, inter-ocular distance 1). The mouth and the jaw are left out -- the paper occludes them --
so speech in the clip never reaches the result. The displacements become zero- and first-order
displacements (Δvalue, ΔJ) of the three face-related keypoints (:data:`~.groups.FACE_KEYPOINTS`),
which the engine maps to the portrait's face size and the driven head's orientation.

The neutral reference, in this order (:func:`choose_reference`):

1. ``"given"``: a neutral image or clip of the same actor (``--emotion-neutral``), its median shape;
2. ``"clip-frames"``: the clip's own frames that are close to a neutral shape -- clearly closer to
   the canonical neutral (3.) than the clip's typical frame is;
3. ``"canonical"``: the mean face's brows (lifted by :data:`CANONICAL_BROW_LIFT`) and eyelids
   placed on the actor's own eye corners (the face frame itself is fitted on eye corners, nose and
   jaw line) (what emotion hardly moves). Emotion clips usually start in their emotion, so the
   first frame is never taken as neutral. The actor's own brow shape then counts as emotion, a
   known limit (docs/engine-landmark.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from eamm_core.engines.landmark.groups import FACE_KEYPOINTS, GROUPS, fit_group
from eamm_core.geometry.face2d import similarity_transform
from eamm_core.geometry.head3d import mean_face_3d
from eamm_core.types import Keypoints

log = logging.getLogger(__name__)

#: landmarks emotion hardly moves: upper jaw line, nose bridge, eye corners
STABLE_POINTS = np.array([0, 1, 2, 3, 13, 14, 15, 16, 27, 28, 29, 30, 36, 39, 42, 45])
BROWS = list(range(17, 27))
EYES = list(range(36, 48))
UPPER_FACE = BROWS + EYES
#: a frame is near neutral when its upper-face distance to the canonical neutral is below both
NEAR_NEUTRAL_ABS = 0.045  # inter-ocular units (RMS over brows and eyelids)
NEAR_NEUTRAL_REL = 0.6  # times the clip's median distance
#: the alignment template's brows sit low: dlib puts them 0.24-0.36 (mean 0.30) inter-ocular units
#: above the eye corners on neutral faces (the four fixture portraits), the template 0.23
CANONICAL_BROW_LIFT = 0.07
BLINK_WINDOW = 9  # frames: a temporal median removes blinks (3-5 frames) from the eye motion
SMOOTH_WINDOW = 5  # frames: moving average against landmark jitter


@dataclass(frozen=True)
class NeutralReference:
    """The actor's neutral shape in the unit face frame [68,2], which rule gave it, and a line
    for the manifest."""

    landmarks: np.ndarray
    kind: str  # "given" | "clip-frames" | "canonical"
    detail: str


def _unit_face() -> np.ndarray:
    return mean_face_3d()[:, :2]


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s R src + t`` -> (s, R [2,2], t [2])."""
    m = similarity_transform(src, dst)
    s = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    return s, m[:2, :2] / s, m[:2, 2].copy()


def to_unit_frame(lm: np.ndarray) -> np.ndarray:
    """Landmarks [T,68,2] (pixels) -> the unit face frame, each frame similarity-aligned on
    :data:`STABLE_POINTS` onto the mean face (inter-ocular distance 1, eyes' midpoint at 0)."""
    lm = np.asarray(lm, np.float64).reshape(-1, 68, 2)
    unit = _unit_face()
    out = np.empty_like(lm)
    for t in range(lm.shape[0]):
        s, r, tr = similarity(lm[t, STABLE_POINTS], unit[STABLE_POINTS])
        out[t] = s * lm[t] @ r.T + tr
    return out


def canonical_neutral(actor: np.ndarray) -> np.ndarray:
    """The mean face's brows and eyelids placed on the actor's eye corners (unit frame [68,2])."""
    unit = _unit_face()
    out = np.array(actor, np.float64, copy=True)
    for corners, parts in (((36, 39), list(range(17, 22)) + list(range(36, 42))),
                           ((42, 45), list(range(22, 27)) + list(range(42, 48)))):
        s, r, t = similarity(unit[list(corners)], actor[list(corners)])
        out[parts] = s * unit[parts] @ r.T + t
    out[BROWS, 1] -= CANONICAL_BROW_LIFT
    return out


def upper_face_distance(unit_lm: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """RMS distance over brows and eyelids, per frame [T] (inter-ocular units)."""
    d = np.asarray(unit_lm)[:, UPPER_FACE] - reference[UPPER_FACE]
    return np.sqrt((d ** 2).sum(-1).mean(-1))


def choose_reference(clip_unit: np.ndarray, neutral_unit: np.ndarray | None = None) -> NeutralReference:
    """Pick the actor's neutral shape (module docstring, in that order)."""
    if neutral_unit is not None and len(neutral_unit):
        return NeutralReference(np.median(neutral_unit, 0), "given",
                                f"neutral reference: the given neutral of the actor ({len(neutral_unit)} frames)")
    from scipy.ndimage import uniform_filter1d  # here, not at import: a cached job never needs scipy.ndimage

    actor = np.median(clip_unit, 0)
    canon = canonical_neutral(actor)
    dist = uniform_filter1d(upper_face_distance(clip_unit, canon), 3, mode="nearest")
    best = float(dist.min())
    typical = float(np.median(dist))
    if best < NEAR_NEUTRAL_ABS and best < NEAR_NEUTRAL_REL * typical:
        near = np.nonzero(dist <= best + 0.25 * (typical - best))[0]
        ref = np.median(clip_unit[near], 0)
        return NeutralReference(ref, "clip-frames",
                                f"neutral reference: {len(near)} near-neutral frames of the clip")
    return NeutralReference(canon, "canonical",
                            "neutral reference: canonical neutral fitted to the actor's eye corners, nose and jaw")


def landmark_offsets(clip_unit: np.ndarray, reference: NeutralReference) -> np.ndarray:
    """Upper-face displacements [T,68,2] in the unit frame (mouth, jaw and nose zero), blinks and
    jitter filtered out."""
    from scipy.ndimage import median_filter, uniform_filter1d

    d = np.zeros_like(clip_unit)
    d[:, UPPER_FACE] = clip_unit[:, UPPER_FACE] - reference.landmarks[UPPER_FACE]
    if len(d) >= 3:
        d[:, EYES] = median_filter(d[:, EYES], size=(min(BLINK_WINDOW, len(d) | 1), 1, 1), mode="nearest")
        d = uniform_filter1d(d, min(SMOOTH_WINDOW, len(d)), axis=0, mode="nearest")
    return d


def keypoint_displacements(reference: np.ndarray, offsets: np.ndarray) -> Keypoints:
    """(Δvalue [T,3,2] in unit-face units, ΔJ [T,3,2,2]) of the three face-related keypoints."""
    n = offsets.shape[0]
    dv = np.zeros((n, 3, 2))
    dj = np.zeros((n, 3, 2, 2))
    for k, g in enumerate(FACE_KEYPOINTS):
        ix = list(GROUPS[g])
        centre, jac = fit_group(reference[ix], reference[ix][None] + offsets[:, ix])
        dv[:, k] = centre - reference[ix].mean(0)
        dj[:, k] = jac - np.eye(2)
    return Keypoints(dv.astype(np.float32), dj.astype(np.float32))


def clip_displacements(clip_lm_px: np.ndarray, neutral_lm_px: np.ndarray | None = None
                       ) -> tuple[Keypoints, np.ndarray, NeutralReference]:
    """A clip's landmarks [T,68,2] -> unit-face keypoint displacements, landmark offsets and the
    neutral reference used."""
    clip_unit = to_unit_frame(clip_lm_px)
    neutral_unit = None if neutral_lm_px is None else to_unit_frame(neutral_lm_px)
    ref = choose_reference(clip_unit, neutral_unit)
    log.info("%s", ref.detail)
    offsets = landmark_offsets(clip_unit, ref)
    return keypoint_displacements(ref.landmarks, offsets), offsets, ref
