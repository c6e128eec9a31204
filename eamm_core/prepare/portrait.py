"""Portrait -> :class:`~eamm_core.types.PortraitCrop` (as the reference
implementation crops it, RGB throughout).

One face is found (by the chosen landmark model, largest first), its 68 landmarks predicted at full resolution, and a
least-squares similarity on landmarks 0-46 maps it onto the 68-point template; the image is
resampled into a 256x256 crop (bilinear, black outside the image, as the reference); the crop's
inner-lip points are moved out to the lips' edges where teeth show between them (:mod:`.lip_edges`).
The inverse transform, the source landmarks (as detected) and the full-resolution original are kept
for paste-back.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from eamm_core.cache import file_sha256
from eamm_core.errors import InputError
from eamm_core.prepare.faces import (
    CROP_SIZE,
    PORTRAIT_ALIGN_POINTS,
    Face,
    align_to_template,
    apply_transform,
    warp_to_crop,
)
from eamm_core.prepare.image_io import read_image
from eamm_core.prepare.landmark_models import landmarker
from eamm_core.prepare.lip_edges import refine_inner_lips
from eamm_core.types import PortraitCrop

log = logging.getLogger(__name__)

#: faces narrower than this (detector box, source pixels) carry too little detail to animate
MIN_FACE_WIDTH = 80
NO_FACE_FIX = "use a photo where the face is frontal and at least 80 px wide"


def choose_face(faces: list[Face], path: Path, face_index: int | None) -> tuple[Face, list[str]]:
    """Pick the face to animate (largest unless ``face_index``); returns it and any warnings."""
    warnings: list[str] = []
    if not faces:
        raise InputError(path, "no face found", NO_FACE_FIX)
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise InputError(path, f"face index {face_index} asked for but {len(faces)} face(s) found",
                             f"use --face-index between 0 and {len(faces) - 1} (0 = largest)")
        face = faces[face_index]
    else:
        face = faces[0]
        if len(faces) > 1:
            warnings.append(f"{len(faces)} faces found in {path.name}; using the largest "
                            f"(use --face-index 0..{len(faces) - 1} to choose another, 0 = largest)")
    if face.width < MIN_FACE_WIDTH:
        raise InputError(path, f"the face is too small ({face.width} px wide)",
                         f"use a photo where the face is at least {MIN_FACE_WIDTH} px wide")
    return face, warnings


def crop_portrait(rgb: np.ndarray, alpha: np.ndarray | None, face: Face) -> dict:
    """Align ``face`` of ``rgb`` to the template: the PortraitCrop fields that depend on pixels."""
    m = align_to_template(face.landmarks, PORTRAIT_ALIGN_POINTS)
    # Where the crop reaches past the photo's edge (tight portraits, faces near a border) the edge
    # pixels are extended rather than filled black, so no dark frame shows in the animation; the
    # mask is 0 there (nothing of the original to paste back onto).
    image = warp_to_crop(rgb, m, CROP_SIZE, border_mode=cv2.BORDER_REPLICATE)
    coverage = np.ones(rgb.shape[:2], np.float32) if alpha is None else alpha.astype(np.float32)
    mask = np.clip(warp_to_crop(coverage, m, CROP_SIZE), 0.0, 1.0)
    return dict(image=image, mask=mask.astype(np.float32),
                landmarks_px=refine_inner_lips(image, apply_transform(m, face.landmarks)).astype(np.float32),
                source_landmarks_px=face.landmarks.astype(np.float32),
                crop_from_source=m, source_from_crop=np.linalg.inv(m),
                dense_px=None if face.dense is None else apply_transform(m, face.dense))


def load_portrait(path: str | Path, *, face_index: int | None = None, landmarks: str | None = None) -> PortraitCrop:
    """Read a portrait image and align its face to the template (see module docstring); ``landmarks``
    names the landmark model (:mod:`eamm_core.prepare.landmark_models`, None = the default).

    Raises :class:`InputError` for unreadable files, no face, a face index out of range or a face
    narrower than 80 px. Several faces: the largest is used and a warning names the count.
    """
    path = Path(path)
    rgb, alpha = read_image(path)
    faces = landmarker(landmarks).detect(rgb)
    face, warnings = choose_face(faces, path, face_index)
    fields = crop_portrait(rgb, alpha, face)
    return PortraitCrop(original=rgb, face_box=tuple(int(v) for v in face.box), path=path,
                        sha256=file_sha256(path), warnings=tuple(warnings), **fields)
