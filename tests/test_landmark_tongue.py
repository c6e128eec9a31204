"""The tongue on the phones that show it: per-frame visibility from the phones (motion stage,
engines/landmark/tongue.py), carried on ``Keypoints.tongue`` and painted by the renderer."""

from __future__ import annotations

import numpy as np
import pytest

from eamm_core.cache import pack_keypoints, unpack_keypoints
from eamm_core.engines.base import combine
from eamm_core.engines.landmark.engine import LandmarkEngine
from eamm_core.engines.landmark.phonemes import PhoneSegments
from eamm_core.engines.landmark.tongue import tongue_track
from eamm_core.types import Keypoints

cv2 = pytest.importorskip("cv2")


def _phones(spec: list[tuple[str, float]]) -> PhoneSegments:
    ends = np.cumsum([d for _, d in spec])
    return PhoneSegments(tuple(p for p, _ in spec), ends - [d for _, d in spec], ends, "alignment")


def _frame_at(seconds: float) -> int:
    return int((seconds - 0.06) * 25.0)  # the motion leads the sound by 60 ms (mouth.LEAD_S)


def test_tongue_rises_on_t_d_n_l_th_less_on_s_and_not_on_vowels_or_silence():
    spec = [("SIL", 0.4), ("AA", 0.24), ("T", 0.12), ("AA", 0.24), ("L", 0.12), ("IY", 0.24),
            ("S", 0.12), ("OW", 0.24), ("DH", 0.12), ("AE", 0.24), ("SIL", 0.4)]
    phones = _phones(spec)
    track = tongue_track(phones, 105)
    assert track.dtype == np.float32 and track.shape == (105,)
    mid = {}
    for i, (p, a, b) in enumerate(zip(phones.labels, phones.starts, phones.ends)):
        mid[f"{p}{i}"] = float(track[_frame_at((a + b) / 2)])
    for p in ("T2", "L4", "DH8"):
        assert mid[p] > 0.7, mid
    for p in ("AA1", "AA3", "IY5", "OW7", "AE9"):
        assert mid[p] < 0.15, mid
    assert 0.3 < mid["S6"] < 0.6, mid
    assert track[:_frame_at(0.3)].max() < 1e-6 and track[-3:].max() < 0.01


def test_keypoints_carry_the_tongue_through_combine_slicing_and_the_cache():
    t = 6
    kp = Keypoints(np.zeros((t, 10, 2), np.float32), np.zeros((t, 10, 2, 2), np.float32),
                   np.linspace(0, 1, t).astype(np.float32))
    delta = Keypoints(np.ones((t, 3, 2), np.float32), np.zeros((t, 3, 2, 2), np.float32))
    mixed = combine(LandmarkEngine(), kp, delta, np.full(t, 0.5))
    assert np.array_equal(mixed.tongue, kp.tongue)
    assert np.array_equal(kp.frames(np.array([4, 1])).tongue, kp.tongue[[4, 1]])
    back = unpack_keypoints(pack_keypoints(kp, "audio"), "audio")
    assert back.tongue.dtype == np.float32 and np.array_equal(back.tongue, kp.tongue)
    assert unpack_keypoints(pack_keypoints(delta, "delta"), "delta").tongue is None
    with pytest.raises(ValueError, match="tongue"):
        Keypoints(kp.value, kp.jacobian, np.zeros(t + 1, np.float32))


def test_renderer_shows_tongue_coloured_pixels_in_the_opening_only_when_raised():
    from test_mouth_colour import _lab, _load, open_jaw

    from eamm_core.engines.landmark import mouth_colour as mc
    from eamm_core.engines.landmark.render import LandmarkRenderer

    crop = _load("60.png")
    renderer = LandmarkRenderer(crop)
    drv = open_jaw(crop.landmarks_px, 0.6)  # a vowel-sized opening, the same for both frames
    vowel, tongue = renderer.render(drv, tongue=0.0), renderer.render(drv, tongue=1.0)
    assert np.array_equal(vowel, renderer.render(drv))  # no tongue value = the vowel frame
    inside = mc.polygon_mask(vowel.shape, drv[60:68])
    ref = _lab(renderer.mouth.look.tongue.reshape(1, 3))[0]

    def tongue_like(frame: np.ndarray) -> np.ndarray:
        lab = _lab(frame[inside])
        hue = np.linalg.norm(lab[:, 1:] - ref[1:], axis=1) < 8.0
        return hue & (np.abs(lab[:, 0] - ref[0]) < 15.0)

    # the tongue adds tongue-coloured pixels to the opening (the cavity's rim by the lower lip shares
    # the lips' hue, so the vowel frame has some of its own)
    added = tongue_like(tongue) & ~tongue_like(vowel)
    assert added.sum() > 0.12 * inside.sum(), (added.sum(), inside.sum())
    diff = np.abs(tongue.astype(int) - vowel.astype(int)).sum(-1) > 0
    box = cv2.dilate(inside.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert diff.any() and not diff[~box].any()  # the tongue stays inside the opening
