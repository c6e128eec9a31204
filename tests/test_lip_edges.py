"""The crop's inner lips at the lips' edges (eamm_core/prepare/lip_edges.py): moved out over a band of
teeth, left alone on closed lips and where the picture gives no clear lip colour."""

from __future__ import annotations

import numpy as np
import pytest

from eamm_core.prepare.lip_edges import MAX_MOVE_IOD, refine_inner_lips
from tests.conftest import shared_path

SKIN, LIP, TEETH, DARK = (205, 160, 140), (180, 90, 95), (215, 210, 200), (40, 25, 25)


def _mouth(band_top: int, band_bottom: int, band=TEETH, lip=LIP) -> tuple[np.ndarray, np.ndarray]:
    """A 256 crop with eyes 60 px apart and a mouth: lips rows 160-185, a band of ``band`` colour in
    rows band_top..band_bottom, and landmarks whose inner lips sit on the band's middle row."""
    img = np.zeros((256, 256, 3), np.uint8)
    img[:] = SKIN
    img[160:186, 100:156] = lip
    img[band_top:band_bottom + 1, 104:152] = band
    lm = np.zeros((68, 2))
    lm[36:42] = (98, 100)
    lm[42:48] = (158, 100)
    mid = 0.5 * (band_top + band_bottom)
    for up, lo, ou, ol, x in ((61, 67, 50, 58, 116), (62, 66, 51, 57, 128), (63, 65, 52, 56, 140)):
        lm[[up, lo, ou, ol], 0] = x
        lm[[up, lo], 1] = mid
        lm[ou, 1], lm[ol, 1] = 160, 185
    return img, lm


def test_a_band_of_teeth_moves_the_inner_lips_to_its_edges():
    img, lm = _mouth(170, 175)
    out = refine_inner_lips(img, lm)
    for up, lo in ((61, 67), (62, 66), (63, 65)):
        assert out[up, 1] == pytest.approx(169.0) and out[lo, 1] == pytest.approx(176.0)
    others = np.setdiff1d(np.arange(68), [61, 62, 63, 65, 66, 67])
    assert np.array_equal(out[others], lm[others])


def test_a_dark_mouth_counts_like_teeth():
    img, lm = _mouth(171, 175, band=DARK)
    out = refine_inner_lips(img, lm)
    assert out[66, 1] - out[62, 1] == pytest.approx(6.0)  # 5 rows of band, each edge 1 px past its last row (EDGE_PX)


def test_closed_lips_keep_their_points():
    img, lm = _mouth(172, 173, band=DARK)  # a 2 px line between closed lips
    assert np.array_equal(refine_inner_lips(img, lm), lm)


def test_no_lip_colour_no_change():
    img, lm = _mouth(170, 175, lip=SKIN)  # lips the colour of the skin: no clear band edge
    lm_grey = lm.copy()
    img_grey = np.repeat(img.mean(-1, keepdims=True), 3, -1).astype(np.uint8)
    assert np.array_equal(refine_inner_lips(img_grey, lm_grey), lm_grey)


def test_the_move_is_capped():
    img, lm = _mouth(162, 183)  # a band nearly as tall as the lips
    out = refine_inner_lips(img, lm)
    iod = 60.0
    assert np.all(np.abs(out - lm) <= MAX_MOVE_IOD * iod + 1e-9)


def test_fixture_portraits():
    """60.png shows its teeth between parted lips: the crop's gap grows from dlib's 2 px to about 5;
    the closed mouths of 7.png and 21.png keep dlib's points."""
    from eamm_core.engines.landmark.mouth import inner_gap
    from eamm_core.prepare.faces import apply_transform
    from eamm_core.prepare.portrait import load_portrait

    why = "real photographs for the lip-edge reading"
    for name, grows in (("60.png", True), ("7.png", False), ("21.png", False)):
        crop = load_portrait(shared_path("fixtures", "portraits", name, why=why))
        read = apply_transform(crop.crop_from_source, crop.source_landmarks_px)
        before, after = float(inner_gap(read)), float(inner_gap(crop.landmarks_px))
        if grows:
            assert before < 2.5 and 4.5 < after < 7.0, (name, before, after)
        else:
            assert after == pytest.approx(before, abs=1e-3), (name, before, after)
