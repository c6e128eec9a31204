"""Faces: dlib HOG detection + 68 landmarks, similarity alignment to the 68-point template.

Everything that finds or aligns a face goes through here so every stage agrees on the same
template and the same transform conventions (template and similarity fit:
:mod:`eamm_core.geometry.face2d`):

* landmarks are float32 ``[68,2]`` pixel coordinates (x right, y down) in dlib / iBUG order;
* a transform is a 3x3 float64 matrix ``M`` mapping homogeneous source pixels to destination
  pixels (``dst = M @ [x, y, 1]``), so ``warp_to_crop(img, M)`` samples ``img`` at ``M^-1 @ p``.

The dlib models ship inside the ``face_recognition_models`` package; it is located with
``importlib.util.find_spec`` because importing that package pulls in ``pkg_resources``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from eamm_core.errors import EammError
from eamm_core.geometry.face2d import load_template, similarity_transform

log = logging.getLogger(__name__)

CROP_SIZE = 256
#: landmarks used to align a portrait (jaw, brows, nose, right eye, part of the left eye)
PORTRAIT_ALIGN_POINTS = slice(0, 47)
#: landmarks used to align emotion-clip frames (jaw, brows, nose: nothing that moves with speech)
CLIP_ALIGN_POINTS = slice(0, 35)
#: images larger than this (longest side, px) are scaled down for detection only
DETECT_MAX_SIDE = 1600
#: the second, upsample-2 pass is only tried on detection images up to this many pixels
UPSAMPLE2_MAX_PIXELS = 1400 * 1400
#: detections beside a better one are real faces only above this HOG score (false positives sit near 0)
MIN_FACE_SCORE = 0.3
#: ... and at least this fraction of the largest face's width (a speck is not a second person)
MIN_FACE_RELATIVE_WIDTH = 0.3


def dlib_model_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """Path of a dlib model file shipped in the ``face_recognition_models`` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EammError("the face landmark model is missing: pip install face-recognition-models")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise EammError(f"the face landmark model {path} is missing: reinstall face-recognition-models")
    return path


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (x0, y0, x1, y1) in image pixels, ``landmarks`` float32 [68,2];
    ``dense`` the landmark model's own points when it has more than 68 (MediaPipe: float32 [478,2])."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    dense: np.ndarray | None = None

    @property
    def width(self) -> int:
        return int(self.box[2] - self.box[0])

    @property
    def area(self) -> int:
        return int(max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1]))


class FaceLandmarker:
    """dlib HOG face detector + 68-point shape predictor. Use :meth:`shared` (thread-safe)."""

    _shared: FaceLandmarker | None = None
    _shared_lock = threading.Lock()

    def __init__(self, predictor_path: Path | None = None):
        import dlib  # imported lazily: it is slow to load and not every command needs it

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor_path or dlib_model_path()))
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> FaceLandmarker:
        """The process-wide instance (models load once)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def detect_boxes(self, rgb: np.ndarray, upsample: int | None = None) -> list[tuple[int, int, int, int]]:
        """Face boxes (x0, y0, x1, y1) in ``rgb`` pixels, largest first.

        ``upsample=None`` picks automatically: large images are scaled down for detection (boxes are
        mapped back), upsample 1 is tried first and upsample 2 when nothing was found (small faces).
        """
        img = _as_uint8_rgb(rgb)
        h, w = img.shape[:2]
        factor = min(1.0, DETECT_MAX_SIDE / float(max(h, w)))
        small = img if factor == 1.0 else cv2.resize(
            img, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        gray = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        passes = [upsample] if upsample is not None else [1, 2]
        rects, scores = [], []
        for ups in passes:
            if upsample is None and ups >= 2 and gray.size > UPSAMPLE2_MAX_PIXELS:
                break  # a face too small for upsample 1 in an image this big would be too small anyway
            with self._lock:
                rects, scores, _ = self._detector.run(gray, int(ups), 0.0)
            if rects:
                break
        found = []
        for r, score in zip(rects, scores):
            x0, y0 = max(0, r.left()) / factor, max(0, r.top()) / factor
            x1, y1 = min(small.shape[1], r.right()) / factor, min(small.shape[0], r.bottom()) / factor
            found.append(((int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))), float(score)))
        boxes = plausible_faces(found)
        boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
        return boxes

    def landmarks(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """68 landmarks (float32 [68,2]) of the face in ``box``, predicted on the full-resolution image
        in grey (luma, as the reference feeds dlib)."""
        arr = np.asarray(rgb)
        if arr.ndim == 2 and arr.dtype == np.uint8:
            img = np.ascontiguousarray(arr)
        else:
            img = np.ascontiguousarray(cv2.cvtColor(np.ascontiguousarray(_as_uint8_rgb(arr)), cv2.COLOR_RGB2GRAY))
        rect = self._dlib.rectangle(int(box[0]), int(box[1]), int(box[2]), int(box[3]))
        with self._lock:
            shape = self._predictor(img, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list[Face]:
        """Every face in ``rgb`` (uint8 [H,W,3]) with its landmarks, sorted by box area, largest first."""
        return [Face(box, self.landmarks(rgb, box)) for box in self.detect_boxes(rgb, upsample)]


def plausible_faces(found: list[tuple[tuple[int, int, int, int], float]]) -> list[tuple[int, int, int, int]]:
    """Boxes of ``(box, HOG score)`` detections that are plausibly faces: the best-scoring one always;
    others only with a score of at least :data:`MIN_FACE_SCORE` and a width of at least
    :data:`MIN_FACE_RELATIVE_WIDTH` of the largest such face (detector false positives are weak or tiny)."""
    if not found:
        return []
    best = max(found, key=lambda f: f[1])
    strong = [f for f in found if f[1] >= MIN_FACE_SCORE or f is best]
    largest = max(b[2] - b[0] for b, _ in strong)
    return [b for b, _ in strong if (b[2] - b[0]) >= MIN_FACE_RELATIVE_WIDTH * largest]


def _as_uint8_rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating):
            img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        else:
            img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3]


def apply_transform(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map points [...,2] with a 3x3 matrix (affine part; similarity/affine only). float32."""
    p = np.asarray(pts, np.float64)
    out = p @ m[:2, :2].T + m[:2, 2]
    return out.astype(np.float32)


#: a transform shrinking more than this is preceded by an area-averaging resize (no aliasing)
ANTIALIAS_BELOW_SCALE = 0.66


def _shrink_first(img: np.ndarray, m: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-resize the part of ``img`` that lands in the crop to about the crop's scale, and return
    it with the transform adjusted, so the final bilinear warp does not alias a high-res photo."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    corners = apply_transform(np.linalg.inv(m), np.array([[0, 0], [size, 0], [0, size], [size, size]], float))
    h, w = img.shape[:2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 3, [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return img, m
    nw, nh = max(1, int(round((x1 - x0) * scale))), max(1, int(round((y1 - y0) * scale)))
    small = cv2.resize(np.ascontiguousarray(img[y0:y1, x0:x1]), (nw, nh), interpolation=cv2.INTER_AREA)
    sx, sy = nw / float(x1 - x0), nh / float(y1 - y0)
    # cv2.resize: small pixel u covers source x = x0 + (u + 0.5) / sx - 0.5
    src_from_small = np.array([[1 / sx, 0, x0 + 0.5 / sx - 0.5], [0, 1 / sy, y0 + 0.5 / sy - 0.5], [0, 0, 1]])
    return small, m @ src_from_small


def warp_to_crop(img: np.ndarray, m: np.ndarray, size: int = CROP_SIZE, *,
                 border_value: float | tuple = 0, interpolation: int = cv2.INTER_LINEAR,
                 antialias: bool = True, border_mode: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """Resample ``img`` (any dtype, [H,W] or [H,W,C]) into a ``size`` x ``size`` crop where crop pixel
    ``p`` shows image pixel ``M^-1 p`` (bilinear; constant border, black by default as the reference,
    or ``border_mode=cv2.BORDER_REPLICATE`` to extend the edge pixels).
    When ``M`` shrinks by more than 1/0.66 the image is first area-averaged (``antialias``)."""
    m = np.asarray(m, np.float64)
    src = np.ascontiguousarray(img)
    if antialias and np.sqrt(abs(np.linalg.det(m[:2, :2]))) < ANTIALIAS_BELOW_SCALE:
        src, m = _shrink_first(src, m, int(size))
    return cv2.warpAffine(src, m[:2], (int(size), int(size)), flags=interpolation,
                          borderMode=border_mode, borderValue=border_value)


def align_to_template(landmarks: np.ndarray, points: slice = PORTRAIT_ALIGN_POINTS) -> np.ndarray:
    """The 3x3 similarity taking image pixels to crop pixels, fitted on ``landmarks[points]``."""
    tpl = load_template()
    return similarity_transform(np.asarray(landmarks)[points], tpl[points])
