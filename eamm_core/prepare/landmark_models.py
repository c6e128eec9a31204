"""Which face landmark model finds faces and their points: the seam every stage goes through.

* ``dlib68`` — dlib's HOG detector and 68-point shape predictor (:class:`~eamm_core.prepare.faces.FaceLandmarker`;
  the model's training data, iBUG 300-W, excludes commercial use: docs/licenses.md);
* ``mediapipe478`` — MediaPipe's face detector and 478-point face mesh (Apache-2.0;
  :class:`~eamm_core.prepare.face_mesh.MeshLandmarker`), whose 68 semantic points come from the
  documented index map in ``eamm_core/data/mediapipe_to_68.csv``.

Both give the same interface: ``detect(rgb)`` -> list of :class:`~eamm_core.prepare.faces.Face`
(largest first, ``landmarks`` float32 [68,2] in iBUG order), ``detect_boxes(rgb, upsample)`` and
``landmarks(rgb, box)``. The rest of the code only sees the 68 points, so it works with either.
"""

from __future__ import annotations

import threading

import numpy as np

from eamm_core.errors import InputError

LANDMARK_MODELS = ("dlib68", "mediapipe478")
DEFAULT_LANDMARKS = "dlib68"

_lock = threading.Lock()
_shared: dict[str, object] = {}


def check_landmark_model(name: str | None) -> str:
    """``name`` if it is a known landmark model (None = the default), else a one-line InputError."""
    if name is None:
        return DEFAULT_LANDMARKS
    if name not in LANDMARK_MODELS:
        raise InputError(None, f"unknown landmark model {name!r}",
                         f"use one of {', '.join(LANDMARK_MODELS)}", field="landmarks")
    return name


def upload_check_model() -> str:
    """The model a server checks an uploaded clip's first frame with (before any job names one):
    ``mediapipe478`` where it is installed (Apache-2.0, so a commercial user's server never runs
    dlib's model), else ``dlib68``."""
    import importlib.util

    return "mediapipe478" if importlib.util.find_spec("mediapipe") is not None else "dlib68"


def landmarker(name: str | None = None):
    """The process-wide landmarker of model ``name`` (models load once; thread-safe)."""
    name = check_landmark_model(name)
    with _lock:
        if name not in _shared:
            if name == "dlib68":
                from eamm_core.prepare.faces import FaceLandmarker

                _shared[name] = FaceLandmarker.shared()
            else:
                from eamm_core.prepare.face_mesh import MeshLandmarker

                _shared[name] = MeshLandmarker()
        return _shared[name]


Detection = tuple[np.ndarray, tuple[int, int, int, int]]
#: video frames are scaled to at most this (longest side) for face detection; points use full res
DETECT_SIDE = 640


def detect_in_frame(model, frame: np.ndarray, upsamples: tuple[int | None, ...] = (None,)) -> Detection | None:
    """The largest face in a video frame: its 68 points and detector box (full-resolution pixels),
    found on the frame scaled to :data:`DETECT_SIDE`, trying the detector's ``upsamples`` in order
    (None: the model's own search); None when no face is found."""
    import cv2

    h, w = frame.shape[:2]
    factor = min(1.0, DETECT_SIDE / float(max(h, w)))
    small = frame if factor == 1.0 else cv2.resize(frame, (round(w * factor), round(h * factor)),
                                                    interpolation=cv2.INTER_AREA)
    boxes = []
    for upsample in upsamples:
        boxes = model.detect_boxes(small) if upsample is None else model.detect_boxes(small, upsample=upsample)
        if boxes:
            break
    if not boxes:
        return None
    box = tuple(int(round(v / factor)) for v in boxes[0])
    lm = model.landmarks(frame, box)
    return None if lm is None else (lm, box)


class FaceTracker:
    """A video's 68 points frame after frame (:func:`detect_in_frame` with ``upsamples`` finds the
    face afresh). A model that can follow a face from one frame to the next (``follow``:
    MediaPipe's mesh, its box placed from the last frame's points, as MediaPipe's own video mode
    does) detects only the first face and where the face is lost or jumps; dlib's model detects
    every frame."""

    #: a followed face whose size changes by more than this factor, or whose centre moves by more
    #: than this fraction of its size, in one frame is detected again
    MAX_SCALE_STEP = 1.25
    MAX_SHIFT = 0.25

    def __init__(self, model, upsamples: tuple[int | None, ...] = (None,)):
        self.model, self.upsamples = model, upsamples
        self.can_follow = callable(getattr(model, "follow", None))
        self.previous: np.ndarray | None = None
        self.placement: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The face's 68 points in ``frame`` (the next frame of the video), or None."""
        if self.can_follow and self.previous is not None:
            lm = self.model.follow(frame, self.previous, self.placement)
            if lm is not None and self._continuous(lm):
                self.previous = lm
                return lm
        found = detect_in_frame(self.model, frame, self.upsamples)
        if found is None:
            self.previous = None
            return None
        lm, box = found
        if self.can_follow:
            from eamm_core.prepare.face_mesh import box_placement

            self.previous, self.placement = lm, box_placement(box, lm)
        return lm

    def _continuous(self, lm: np.ndarray) -> bool:
        a, b = _extent(self.previous), _extent(lm)
        shift = float(np.linalg.norm(lm.mean(0) - self.previous.mean(0)))
        return max(a, b) <= self.MAX_SCALE_STEP * min(a, b) and shift <= self.MAX_SHIFT * a


def _extent(lm: np.ndarray) -> float:
    """Mean of the points' width and height (px)."""
    return float(np.ptp(lm[:, 0]) + np.ptp(lm[:, 1])) / 2.0
