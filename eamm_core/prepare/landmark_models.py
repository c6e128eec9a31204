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
