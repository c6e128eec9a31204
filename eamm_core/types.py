"""Typed values passed between the stages (numpy, float32 unless stated).

Coordinates of keypoints and landmarks in crop space use two conventions, always named:
``*_px`` are pixels of the 256x256 crop (x right, y down, pixel centres at integers);
keypoint ``value`` is normalised to [-1, 1] as in FOMM/EAMM: ``v = 2 * px / (256 - 1) - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Keypoints:
    """Zero- and first-order motion: ``value`` [T,N,2] in [-1,1] (x, y); ``jacobian`` [T,N,2,2]
    row-major 2x2 local affine maps (FOMM layout). ``tongue``: optional [T] float32 in [0,1], how
    much the tongue shows in each frame (the landmark engine derives it from the phones: T, D, N, L,
    TH raise it behind the upper teeth); None leaves it to the renderer (the mouth's opening alone).
    The neural engine neither makes nor reads it."""

    value: np.ndarray
    jacobian: np.ndarray
    tongue: np.ndarray | None = None

    def __post_init__(self) -> None:
        v, j = self.value, self.jacobian
        if v.ndim != 3 or v.shape[-1] != 2:
            raise ValueError(f"Keypoints.value must be [T,N,2], got {v.shape}")
        if j.shape != v.shape[:2] + (2, 2):
            raise ValueError(f"Keypoints.jacobian must be {v.shape[:2] + (2, 2)}, got {j.shape}")
        if self.tongue is not None and np.shape(self.tongue) != v.shape[:1]:
            raise ValueError(f"Keypoints.tongue must be [{v.shape[0]}], got {np.shape(self.tongue)}")

    def __len__(self) -> int:
        return int(self.value.shape[0])

    def frames(self, index: slice | np.ndarray) -> Keypoints:
        tongue = None if self.tongue is None else self.tongue[index]
        return Keypoints(self.value[index], self.jacobian[index], tongue)


def px_to_norm(px: np.ndarray, size: int = 256) -> np.ndarray:
    return (2.0 * np.asarray(px, np.float64) / (size - 1) - 1.0).astype(np.float32)


def norm_to_px(v: np.ndarray, size: int = 256) -> np.ndarray:
    return ((np.asarray(v, np.float64) + 1.0) * (size - 1) / 2.0).astype(np.float32)


@dataclass(frozen=True)
class PortraitCrop:
    """The portrait aligned to the 68-point template.

    image: [256,256,3] uint8 RGB crop. mask: [256,256] float32 in [0,1] (1 = opaque portrait pixel;
    all ones for images without alpha). landmarks_px: [68,2] float32 landmarks in crop pixels.
    source_landmarks_px: [68,2] landmarks in the original image. crop_from_source: [3,3] similarity
    matrix mapping original-image pixels to crop pixels; source_from_crop its inverse.
    original: the full-resolution RGB image (uint8 [H,W,3]) for paste-back. face_box: (x0,y0,x1,y1)
    in the original image. sha256: hash of the input file bytes. dense_px: the landmark model's own
    points in crop pixels when it has more than 68 (``mediapipe478``: float32 [478,2]), else None.
    """

    image: np.ndarray
    mask: np.ndarray
    landmarks_px: np.ndarray
    source_landmarks_px: np.ndarray
    crop_from_source: np.ndarray
    source_from_crop: np.ndarray
    original: np.ndarray
    face_box: tuple[int, int, int, int]
    path: Path | None = None
    sha256: str = ""
    warnings: tuple[str, ...] = ()
    dense_px: np.ndarray | None = None


@dataclass(frozen=True)
class AudioFeatures:
    """Speech as the model reads it.

    samples: mono 16 kHz float32. mfcc: [N,13] float64 raw MFCC rows (the reference
    implementation's, padded by 1920 zeros each side). windows: [T,28,12] float32, one per 25 fps frame, T = floor(N/4) - 6.
    loudness: [T] float32 per-frame RMS loudness in dBFS-like units normalised to [0,1].
    """

    samples: np.ndarray
    sample_rate: int
    mfcc: np.ndarray
    windows: np.ndarray
    loudness: np.ndarray
    path: Path | None = None
    sha256: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def num_frames(self) -> int:
        return int(self.windows.shape[0])

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True)
class PoseTrack:
    """Head pose per 25 fps frame: [T,6] float32 = yaw, pitch, roll (degrees), scale, tx, ty."""

    values: np.ndarray
    source: str = "none"  # "none" | "file" | "curve" | "video" | "idle"

    def __len__(self) -> int:
        return int(self.values.shape[0])


@dataclass(frozen=True)
class EmotionClip:
    """The emotion reference, one frame per 25 fps output frame.

    aligned: [T,256,256,3] uint8 frames aligned to the template (what a person would look at).
    augmented: [T,256,256,3] uint8 frames after the seeded test-time augmentation (what the neural
    emotion network reads). Both may be arrays or array-likes that make frames on demand
    (:mod:`eamm_core.prepare.clip_frames`: indexing and ``np.asarray`` work the same). landmarks_px: [T,68,2] float32 landmarks of the aligned frames.
    source_index: [T] int index of the clip frame each output frame was taken from.
    """

    aligned: np.ndarray
    augmented: np.ndarray
    landmarks_px: np.ndarray
    source_index: np.ndarray
    fps: float
    seed: int
    path: Path | None = None
    sha256: str = ""
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.aligned.shape[0])


@dataclass(frozen=True)
class EmotionPreset:
    """Emotion displacements already extracted (``.npz`` preset): ``value`` [T,3,2] and
    ``jacobian`` [T,3,2,2] on the engine's three face-related keypoints, normalised to a unit face
    (see docs/engine-landmark.md), plus optional upper-face landmark offsets [T,68,2]."""

    name: str
    displacements: Keypoints
    landmark_offsets: np.ndarray | None = None
    path: Path | None = None
    sha256: str = ""
    meta: dict = field(default_factory=dict)
