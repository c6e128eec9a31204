"""Face counting ignores implausible detections: a two-face photo must not report
"3 faces" because the detector also fired on something tiny or barely face-like."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import portrait_path, sample_face_rgb

from eamm_core.prepare.faces import FaceLandmarker


def _read(name: str) -> np.ndarray:
    from eamm_core.prepare.image_io import read_image

    return read_image(portrait_path(name))[0]


@pytest.fixture(scope="module", params=["sample", "photos"])
def two_faces_and_a_speck(request) -> np.ndarray:
    if request.param == "sample":  # the sample face, its mirror image and a small copy
        face = np.asarray(sample_face_rgb())
        faces, speck = (face, face[:, ::-1]), face
    else:
        faces, speck = (_read("21.png"), _read("60.png")), _read("7.png")
    canvas = np.concatenate([cv2.resize(f, (512, 512)) for f in faces], 1).copy()
    canvas[400:490, 470:560] = cv2.resize(speck, (90, 90))  # a face a fifth of the others' size
    return canvas


def test_a_tiny_detection_beside_two_faces_is_not_counted(two_faces_and_a_speck, tmp_path):
    faces = FaceLandmarker.shared().detect(two_faces_and_a_speck)
    assert len(faces) == 2 and min(f.width for f in faces) > 200
    from eamm_core.prepare.portrait import load_portrait

    path = tmp_path / "two.png"
    cv2.imwrite(str(path), cv2.cvtColor(two_faces_and_a_speck, cv2.COLOR_RGB2BGR))
    crop = load_portrait(path)
    assert any("2 faces found" in w for w in crop.warnings), crop.warnings


class _Rect:
    def __init__(self, x0, y0, x1, y1):
        self.box = (x0, y0, x1, y1)

    def left(self): return self.box[0]
    def top(self): return self.box[1]
    def right(self): return self.box[2]
    def bottom(self): return self.box[3]


class _FakeDetector:
    """dlib's detector interface (``run(gray, upsample, threshold)``) with fixed answers."""

    def __init__(self, found):
        self.found = found

    def run(self, gray, upsample, threshold):
        kept = [(r, s) for r, s in self.found if s >= threshold]
        return [r for r, _ in kept], [s for _, s in kept], [0] * len(kept)

    def __call__(self, gray, upsample):
        return [r for r, s in self.found if s >= 0]


def test_a_low_scoring_detection_is_not_counted(monkeypatch):
    lm = FaceLandmarker.shared()
    fake = _FakeDetector([(_Rect(10, 10, 210, 210), 2.1), (_Rect(300, 20, 490, 210), 1.6),
                          (_Rect(250, 250, 420, 420), 0.05)])  # face-sized but barely above dlib's threshold
    monkeypatch.setattr(lm, "_detector", fake)
    boxes = lm.detect_boxes(np.zeros((500, 500, 3), np.uint8))
    assert boxes == [(10, 10, 210, 210), (300, 20, 490, 210)]
    fake.found = [(_Rect(250, 250, 420, 420), 0.05)]  # the only candidate is kept: better than no face
    assert lm.detect_boxes(np.zeros((500, 500, 3), np.uint8)) == [(250, 250, 420, 420)]
