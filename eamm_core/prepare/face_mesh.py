"""MediaPipe face detector + 478-point face mesh, giving the 68 iBUG points by a documented map.

The models ship inside the ``mediapipe`` wheel (0.10.14, Apache-2.0) and run offline through its
legacy ``solutions`` API: the full-range BlazeFace detector finds faces (a second pass over
overlapping tiles finds faces too small for one look at a large image), then the face mesh with
attention (468 points + 10 iris points) runs on a square crop around each face, twice the
detector's box, resampled to :data:`MESH_INPUT` px.

The 68 semantic points are ``(1 - w) * mesh[a] + w * mesh[b]`` per row of
``eamm_core/data/mediapipe_to_68.csv`` (fitted by ``scripts/fit_mediapipe_map.py`` on MEAD clips,
none of them the fixture portraits; docs/engine-landmark.md, "Landmark models"). Points are in
dlib's pixel convention (pixel centres at integers).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from eamm_core.errors import EammError
from eamm_core.prepare.faces import MIN_FACE_RELATIVE_WIDTH, Face, _as_uint8_rgb

log = logging.getLogger(__name__)

MESH_POINTS = 478
#: side (px) of the square crop the mesh runs on; the mesh model itself reads 192x192
MESH_INPUT = 384
#: the crop around a detection is this many times the detector box's larger side
CROP_FACTOR = 2.0
#: detections below this score are not faces
MIN_SCORE = 0.5
#: images larger than this (longest side) are scaled down for detection only
DETECT_MAX_SIDE = 1600
#: tiles of the second detection pass: this fraction of the image's longer side, half overlapping
TILE_FRACTION = 0.5


@lru_cache(maxsize=1)
def mesh_to_68() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The index map: (a int [68], b int [68], w float32 [68]); point i = (1-w_i)·mesh[a_i] + w_i·mesh[b_i]."""
    text = resources.files("eamm_core.data").joinpath("mediapipe_to_68.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(rows) != 68:
        raise EammError(f"the packaged MediaPipe index map has {len(rows)} rows, expected 68: reinstall eamm")
    idx = np.array([int(r[0]) for r in rows])
    if not np.array_equal(idx, np.arange(68)):
        raise EammError("the packaged MediaPipe index map is out of order: reinstall eamm")
    a, b = np.array([int(r[1]) for r in rows]), np.array([int(r[2]) for r in rows])
    w = np.array([float(r[3]) for r in rows], np.float32)
    return a, b, w


def mesh_points_to_68(mesh: np.ndarray) -> np.ndarray:
    """[..., 478, 2] mesh points -> [..., 68, 2] iBUG points (float32)."""
    a, b, w = mesh_to_68()
    mesh = np.asarray(mesh, np.float32)
    return ((1.0 - w)[:, None] * mesh[..., a, :] + w[:, None] * mesh[..., b, :]).astype(np.float32)


def _import_solutions():
    import importlib.util
    import os
    import sys
    import types

    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logs info lines to stderr otherwise

    if importlib.util.find_spec("matplotlib") is None:
        # mediapipe's package __init__ imports its drawing helpers, which import matplotlib.pyplot;
        # nothing here draws, so an empty stand-in avoids shipping matplotlib
        stub, pyplot = types.ModuleType("matplotlib"), types.ModuleType("matplotlib.pyplot")
        stub.pyplot = pyplot
        sys.modules.setdefault("matplotlib", stub)
        sys.modules.setdefault("matplotlib.pyplot", pyplot)
    try:
        from mediapipe.python.solutions import face_detection, face_mesh
    except ImportError as exc:
        raise EammError(f"the mediapipe478 landmark model needs the mediapipe package ({exc}): "
                        "pip install --no-deps mediapipe==0.10.14 (see requirements/main.txt)") from exc
    return face_detection, face_mesh


@contextmanager
def _native_stderr_muted():
    """mediapipe's C++ side writes info lines to fd 2 as its graphs start (before its logging can be
    configured); they are dropped."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class MeshLandmarker:
    """MediaPipe detector + face mesh behind :class:`~eamm_core.prepare.faces.FaceLandmarker`'s
    interface (use :func:`eamm_core.prepare.landmark_models.landmarker`)."""

    def __init__(self):
        face_detection, face_mesh = _import_solutions()
        with _native_stderr_muted():
            self._detector = face_detection.FaceDetection(model_selection=1, min_detection_confidence=MIN_SCORE)
            self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                            min_detection_confidence=0.3)
            blank = np.zeros((64, 64, 3), np.uint8)  # the graphs open their models on their own threads:
            with warnings.catch_warnings():  # one frame each waits for that inside the muted window
                warnings.simplefilter("ignore", UserWarning)
                self._detector.process(blank)
                self._mesh.process(blank)
        self._lock = threading.Lock()

    def _run_detector(self, img: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # protobuf's GetPrototype deprecation, per call
            res = self._detector.process(np.ascontiguousarray(img))
        h, w = img.shape[:2]
        out = []
        for det in res.detections or ():
            r = det.location_data.relative_bounding_box
            out.append((r.xmin * w, r.ymin * h, (r.xmin + r.width) * w, (r.ymin + r.height) * h, float(det.score[0])))
        return out

    def detect_boxes(self, rgb: np.ndarray, upsample: int | None = None) -> list[tuple[int, int, int, int]]:
        """Detector boxes (x0, y0, x1, y1), largest first. ``upsample`` (dlib's) is accepted and
        ignored: the tiled second pass plays its part."""
        img = _as_uint8_rgb(rgb)
        h, w = img.shape[:2]
        factor = min(1.0, DETECT_MAX_SIDE / float(max(h, w)))
        small = img if factor == 1.0 else cv2.resize(
            img, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        found = self._run_detector(small)
        if not found:
            found = self._tiled(small)
        found = [(x0 / factor, y0 / factor, x1 / factor, y1 / factor, s) for x0, y0, x1, y1, s in found]
        boxes = [tuple(int(round(v)) for v in f[:4]) for f in found]
        if boxes:
            largest = max(b[2] - b[0] for b in boxes)
            boxes = [b for b in boxes if b[2] - b[0] >= MIN_FACE_RELATIVE_WIDTH * largest]
        boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
        return boxes

    def _tiled(self, img: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        h, w = img.shape[:2]
        side = max(64, int(round(TILE_FRACTION * max(h, w))))
        step = side // 2
        found = []
        for y in range(0, max(1, h - step), step):
            for x in range(0, max(1, w - step), step):
                tile = img[y:y + side, x:x + side]
                found += [(x0 + x, y0 + y, x1 + x, y1 + y, s) for x0, y0, x1, y1, s in self._run_detector(tile)]
        return _suppress(found)

    def dense(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """The 478 mesh points (float32 [478,2], image pixels) of the face in ``box``, or None."""
        img = _as_uint8_rgb(rgb)
        x0, y0, x1, y1 = box
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        side = CROP_FACTOR * max(x1 - x0, y1 - y0, 8)
        scale = MESH_INPUT / side
        m = np.array([[scale, 0, MESH_INPUT / 2 - scale * cx], [0, scale, MESH_INPUT / 2 - scale * cy]])
        if scale < 0.66:  # area-average first so a large face does not alias
            from eamm_core.prepare.faces import warp_to_crop

            crop = warp_to_crop(img, np.vstack([m, [0, 0, 1]]), MESH_INPUT, border_value=(127, 127, 127))
        else:
            crop = cv2.warpAffine(img, m, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(127, 127, 127))
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = self._mesh.process(np.ascontiguousarray(crop))
        if not res.multi_face_landmarks:
            return None
        pts = np.array([(p.x, p.y) for p in res.multi_face_landmarks[0].landmark], np.float64) * MESH_INPUT - 0.5
        return ((pts - m[:, 2]) / scale).astype(np.float32)

    def landmarks(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """68 iBUG points (float32 [68,2]) of the face in ``box``, or None when the mesh finds no
        face there (callers treat it as a frame without a face)."""
        mesh = self.dense(rgb, box)
        return None if mesh is None else mesh_points_to_68(mesh)

    def follow(self, rgb: np.ndarray, previous: np.ndarray, placement: np.ndarray) -> np.ndarray | None:
        """68 points of the face that had ``previous`` [68,2] in the last video frame, the mesh run
        on the box ``placement`` (:func:`box_placement`) puts around them, without the detector (as
        MediaPipe's own video mode follows a face); None when the mesh finds no face there."""
        return self.landmarks(rgb, place_box(previous, placement))

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list[Face]:
        """Every face with its 68 points (and ``dense`` 478), largest first; a detection on which the
        mesh finds no face is dropped. The box is the 68 points' extent (jaw and brows), close to
        dlib's box, so size limits read the same with either model."""
        faces = []
        for det in self.detect_boxes(rgb, upsample):
            mesh = self.dense(rgb, det)
            if mesh is None:
                continue
            lm = mesh_points_to_68(mesh)
            faces.append(Face(_box_of(lm), lm, dense=mesh))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces


def box_placement(box: tuple[int, int, int, int], lm: np.ndarray) -> np.ndarray:
    """Where a detector ``box`` sits on the face whose 68 points are ``lm``: its centre's offset and
    its width and height, in units of the points' extent (float64 [4])."""
    x0, y0, x1, y1 = _box_of(lm)
    w, h = max(x1 - x0, 1), max(y1 - y0, 1)
    return np.array([((box[0] + box[2]) - (x0 + x1)) / (2.0 * w), ((box[1] + box[3]) - (y0 + y1)) / (2.0 * h),
                     (box[2] - box[0]) / w, (box[3] - box[1]) / h])


def place_box(lm: np.ndarray, placement: np.ndarray) -> tuple[int, int, int, int]:
    """The box that sits on the face with points ``lm`` as ``placement`` describes."""
    x0, y0, x1, y1 = _box_of(lm)
    w, h = max(x1 - x0, 1), max(y1 - y0, 1)
    cx, cy = (x0 + x1) / 2.0 + placement[0] * w, (y0 + y1) / 2.0 + placement[1] * h
    bw, bh = placement[2] * w, placement[3] * h
    return (int(round(cx - bw / 2)), int(round(cy - bh / 2)), int(round(cx + bw / 2)), int(round(cy + bh / 2)))


def _box_of(lm: np.ndarray) -> tuple[int, int, int, int]:
    x0, x1 = float(lm[:17, 0].min()), float(lm[:17, 0].max())
    y0, y1 = float(lm[17:27, 1].min()), float(lm[:17, 1].max())
    return int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))


def _suppress(found: list, iou: float = 0.3) -> list:
    """Greedy non-maximum suppression of (x0, y0, x1, y1, score) detections."""
    kept = []
    for f in sorted(found, key=lambda f: -f[4]):
        if all(_iou(f, k) < iou for k in kept):
            kept.append(f)
    return kept


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
