"""Identity embeddings with dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``).

The model ships in the ``face_recognition_models`` package (located, not imported, through
:func:`eamm_core.prepare.faces.dlib_model_path`). dlib maps a face to a 128-number descriptor;
two faces whose descriptors are less than :data:`SAME_PERSON_THRESHOLD` apart (Euclidean) are, by
dlib's own rule, the same person. Used by ``bench/quality.py`` to check that a generated face still
looks like its source.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eamm_core.errors import EammError
from eamm_core.prepare.faces import FaceLandmarker, dlib_model_path

#: dlib's documented same-person distance threshold for this model
SAME_PERSON_THRESHOLD = 0.6
RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class IdentityDistance:
    """Distances (dlib descriptor space) from a reference face to each frame: ``per_frame`` [T],
    ``mean`` and ``worst`` (max); ``missing`` frames where no face was found are left out."""

    per_frame: np.ndarray
    mean: float
    worst: float
    missing: int = 0


class FaceEmbedder:
    """dlib's 128-D face descriptor. ``embed(rgb, landmarks=None)`` -> float64 [128]."""

    def __init__(self, model_path: Path | None = None, landmarker: FaceLandmarker | None = None):
        import dlib  # lazy: slow to load

        self._dlib = dlib
        self._model = dlib.face_recognition_model_v1(str(model_path or dlib_model_path(RECOGNITION_MODEL)))
        self._landmarker = landmarker
        self._lock = threading.Lock()

    def _landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        if self._landmarker is None:
            self._landmarker = FaceLandmarker.shared()
        faces = self._landmarker.detect(rgb)
        return faces[0].landmarks if faces else None

    def embed(self, rgb: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Descriptor of the face in ``rgb`` (uint8 [H,W,3]). ``landmarks`` [68,2] (px) skips the
        detection; without them the largest detected face is used. Raises EammError if none."""
        img = np.asarray(rgb)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] < 3:
            raise ValueError(f"embed needs an RGB uint8 image [H,W,3], got {img.dtype} {img.shape}")
        img = np.ascontiguousarray(img[:, :, :3])
        lm = self._landmarks(img) if landmarks is None else np.asarray(landmarks, np.float64)
        if lm is None:
            raise EammError("no face found to compute an identity embedding: the frame shows no detectable face")
        if lm.shape != (68, 2):
            raise ValueError(f"embed needs 68 landmarks [68,2], got {lm.shape}")
        d = self._dlib
        x0, y0 = np.floor(lm.min(axis=0)).astype(int)
        x1, y1 = np.ceil(lm.max(axis=0)).astype(int)
        parts = [d.point(int(round(x)), int(round(y))) for x, y in lm]
        shape = d.full_object_detection(d.rectangle(int(x0), int(y0), int(x1), int(y1)), parts)
        with self._lock:
            desc = self._model.compute_face_descriptor(img, shape)
        return np.asarray(desc, dtype=np.float64)


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (dlib's metric)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def identity_distances(embedder: FaceEmbedder, reference: np.ndarray, frames, landmarks=None) -> IdentityDistance:
    """Distance from the ``reference`` descriptor to every frame of ``frames`` (iterable of RGB
    images); ``landmarks`` optional [T,68,2] (or None entries) avoids re-detecting faces."""
    dists, missing, seen = [], 0, {}
    for t, frame in enumerate(frames):
        lm = None if landmarks is None else landmarks[t]
        key = hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest() + ("" if lm is None else hashlib.sha1(
            np.ascontiguousarray(lm, np.float64).tobytes()).hexdigest())
        if key not in seen:  # a repeated frame (a still baseline) is embedded once
            try:
                seen[key] = descriptor_distance(reference, embedder.embed(frame, lm))
            except EammError:
                seen[key] = None
        if seen[key] is None:
            missing += 1
        else:
            dists.append(seen[key])
    arr = np.asarray(dists, np.float64)
    if arr.size == 0:
        return IdentityDistance(arr, float("nan"), float("nan"), missing)
    return IdentityDistance(arr, float(arr.mean()), float(arr.max()), missing)
