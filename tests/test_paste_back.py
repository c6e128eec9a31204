"""Paste-back of 256x256 frames into the full-resolution portrait: identity, locality, feathering
(no seam), full resolution, RGBA transparency respected, caching, bad frames."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import portrait_path, sample_face_rgb

cv2 = pytest.importorskip("cv2")

from eamm_core.errors import EammError
from eamm_core.render.paste_back import PasteBack, paste_back, paste_back_plan


def _load(path):
    from eamm_core.prepare.portrait import load_portrait

    return load_portrait(path)


def _bgr(name: str) -> np.ndarray:
    """A 256 px face in BGR: the sample's face crop, or a fixture photograph (skips when absent)."""
    if name == "sample":
        return cv2.cvtColor(np.asarray(sample_face_rgb()), cv2.COLOR_RGB2BGR)
    return cv2.imread(str(portrait_path(name)))


@pytest.fixture(scope="module", params=["sample", "7.png"])
def big_crop(request, tmp_path_factory):
    """A 256 px face enlarged 5x on a larger grey canvas with fine texture (a 'full resolution' photo)."""
    src = _bgr(request.param)
    big = cv2.resize(src, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((1500, 1900, 3), 100, np.uint8)
    canvas[::2, ::2] = 140  # a fine checker: any resampling of the background would show
    canvas[120:120 + 1280, 300:300 + 1280] = big
    path = tmp_path_factory.mktemp("paste") / "big7.png"
    cv2.imwrite(str(path), canvas)
    return _load(path)


def test_pasting_the_crop_itself_changes_little_and_only_near_the_face(big_crop):
    plan = PasteBack(big_crop)
    out = plan(big_crop.image)
    assert out.shape == big_crop.original.shape and out.dtype == np.uint8
    x0, y0, x1, y1 = plan.box
    diff = np.abs(out.astype(np.float64) - big_crop.original)
    assert diff[y0:y1, x0:x1].mean() < 3.0
    outside = diff.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() == 0
    # the face box is a small part of the image: the cost per frame stays local
    assert (x1 - x0) * (y1 - y0) < 0.9 * out.shape[0] * out.shape[1]


def test_the_rendered_face_replaces_the_face_and_the_edge_is_feathered(big_crop):
    plan = paste_back_plan(big_crop)
    white = np.full((256, 256, 3), 255, np.uint8)
    out = paste_back(big_crop, white).astype(np.float64)
    orig = big_crop.original.astype(np.float64)
    lm = big_crop.source_landmarks_px
    nose = np.round(lm[30]).astype(int)
    assert np.all(out[nose[1], nose[0]] > 250), "the centre of the face should show the frame"
    # the result is the blend orig + w * (frame - orig) with the plan's weight w
    x0, y0, x1, y1 = plan.box
    expected = orig[y0:y1, x0:x1] + plan.weight[..., None] * (255.0 - orig[y0:y1, x0:x1])
    assert np.abs(out[y0:y1, x0:x1] - expected).max() <= 1.0
    # from the nose to the box's left edge the weight falls smoothly to zero: no seam
    weight = plan.weight[nose[1] - y0, : nose[0] - x0 + 1]
    assert weight[0] < 1e-3 and weight[-1] > 0.99
    steps = np.abs(np.diff(weight))
    assert steps.max() < 0.03, f"a seam: the weight jumps by {steps.max():.3f} between neighbours"
    feather = np.count_nonzero((weight > 0.05) & (weight < 0.95))
    face_width = float(np.linalg.norm(lm[16] - lm[0]))
    assert feather > 0.04 * face_width, "the feather is too narrow to hide the edge"


def test_paste_back_keeps_the_original_resolution_and_detail_away_from_the_face(big_crop):
    frame = np.zeros((256, 256, 3), np.uint8)
    out = paste_back(big_crop, frame)
    assert out.shape == big_crop.original.shape
    # the fine checker far from the face is untouched, pixel for pixel
    assert np.array_equal(out[:100, :250], big_crop.original[:100, :250])
    assert not np.array_equal(out, big_crop.original)


def test_transparent_parts_of_an_rgba_portrait_stay_untouched(tmp_path):
    src = _bgr("sample")
    big = cv2.resize(src, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    alpha = np.full(big.shape[:2], 255, np.uint8)
    alpha[:, : big.shape[1] // 2 - 60] = 0  # the subject's right side (image left) is transparent
    path = tmp_path / "rgba.png"
    cv2.imwrite(str(path), np.dstack([big, alpha]))
    crop = _load(path)
    if crop.mask.min() > 0.5:
        pytest.skip("the prepare stage did not carry the alpha channel into crop.mask")
    out = paste_back(crop, np.full((256, 256, 3), 255, np.uint8))
    transparent = alpha == 0
    assert np.array_equal(out[transparent], crop.original[transparent])
    assert (out[~transparent] != crop.original[~transparent]).any()


def test_the_plan_is_cached_per_crop(big_crop):
    assert paste_back_plan(big_crop) is paste_back_plan(big_crop)
    frame = np.full((256, 256, 3), 30, np.uint8)
    assert np.array_equal(paste_back(big_crop, frame), PasteBack(big_crop)(frame))


@pytest.mark.parametrize("frame", [np.zeros((128, 128, 3), np.uint8), np.zeros((256, 256, 3), np.float32),
                                   np.zeros((256, 256), np.uint8)])
def test_bad_frames_are_refused(big_crop, frame):
    with pytest.raises(EammError):
        paste_back(big_crop, frame)


def test_reusing_the_output_buffer_gives_the_same_images(big_crop):
    a = np.full((256, 256, 3), 10, np.uint8)
    b = np.full((256, 256, 3), 240, np.uint8)
    buf = paste_back(big_crop, a)
    again = paste_back(big_crop, b, out=buf)
    assert again is buf
    assert np.array_equal(again, paste_back(big_crop, b))
    assert not np.array_equal(paste_back(big_crop, a), again)
