"""bench/identity.py: dlib face-recognition embeddings: same face close, other faces far, landmarks reused."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import REPO, shared_path

from eamm_core.errors import EammError
from eamm_core.prepare.faces import FaceLandmarker

sys.path.insert(0, str(REPO / "bench"))
from identity import SAME_PERSON_THRESHOLD, FaceEmbedder, descriptor_distance, identity_distances  # noqa: E402


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder()


def _portrait(name: str) -> np.ndarray:
    from eamm_core.prepare.image_io import read_image

    rgb, _ = read_image(shared_path("fixtures", "portraits", name))
    return rgb


def test_descriptor_is_128_numbers_and_unit_scale(embedder):
    d = embedder.embed(_portrait("21.png"))
    assert d.shape == (128,)
    assert 0.5 < np.linalg.norm(d) < 2.0


def test_same_face_slightly_changed_stays_below_threshold_other_faces_do_not(embedder):
    a = _portrait("21.png")
    rng = np.random.default_rng(0)
    noisy = np.clip(a.astype(np.int16) + rng.integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    da, dn = embedder.embed(a), embedder.embed(noisy)
    same = descriptor_distance(da, dn)
    assert same < 0.25
    others = [descriptor_distance(da, embedder.embed(_portrait(n))) for n in ("60.png", "7.png")]
    assert min(others) > same
    assert min(others) > SAME_PERSON_THRESHOLD * 0.8


def test_given_landmarks_match_detected_ones(embedder):
    a = _portrait("60.png")
    faces = FaceLandmarker.shared().detect(a)
    assert faces
    assert descriptor_distance(embedder.embed(a), embedder.embed(a, faces[0].landmarks)) < 1e-6


def test_no_face_raises_a_readable_error_and_is_counted_missing(embedder):
    blank = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(EammError, match="no face"):
        embedder.embed(blank)
    ref = embedder.embed(_portrait("21.png"))
    res = identity_distances(embedder, ref, [blank, _portrait("21.png")])
    assert res.missing == 1
    assert res.per_frame.shape == (1,)
    assert res.mean == pytest.approx(0.0, abs=1e-6)
