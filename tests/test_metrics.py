"""bench/metrics.py: quality metrics on synthetic cases whose answers are known."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import metrics as M  # noqa: E402


def _face(seed: int = 0) -> np.ndarray:
    """A plausible 68-point face in crop pixels: the packaged template plus small noise."""
    from eamm_core.prepare.faces import load_template

    rng = np.random.default_rng(seed)
    return load_template().astype(np.float64) + rng.normal(0.0, 0.5, (68, 2))


def _image(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.uint8)
    return np.kron(base, np.ones((8, 8, 1), np.uint8))


def _rotate(lm: np.ndarray, deg: float, scale: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
    a = math.radians(deg)
    r = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = lm.mean(axis=-2, keepdims=True)
    return (lm - c) @ r.T + c + np.asarray(shift)


# --- images -----------------------------------------------------------------------------------


def test_identical_images_give_ssim_one_and_psnr_infinite():
    img = _image(1)
    assert M.ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert M.psnr(img, img) == math.inf


def test_psnr_of_a_constant_offset_matches_the_formula():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a + 5  # MSE 25
    assert M.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 25.0), abs=1e-9)


@pytest.mark.parametrize("seed", [0, 3])
def test_ssim_matches_scikit_image_reference(seed):
    skm = pytest.importorskip("skimage.metrics")
    a = _image(seed)
    rng = np.random.default_rng(seed + 10)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    ref = skm.structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255)
    assert M.ssim(a, b) == pytest.approx(ref, abs=1e-9)


def test_ssim_falls_as_noise_grows_and_is_symmetric():
    a = _image(2)
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 1, a.shape)
    scores = [M.ssim(a, np.clip(a + s * noise, 0, 255).astype(np.uint8)) for s in (5, 20, 60)]
    assert scores[0] > scores[1] > scores[2]
    b = np.clip(a + 20 * noise, 0, 255).astype(np.uint8)
    assert M.ssim(a, b) == pytest.approx(M.ssim(b, a), abs=1e-12)


def test_image_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError):
        M.ssim(np.zeros((32, 32)), np.zeros((32, 30)))
    with pytest.raises(ValueError):
        M.psnr(np.zeros((32, 32, 3)), np.zeros((32, 32)))


# --- landmark distances -------------------------------------------------------------------------


def test_lmd_of_a_sequence_with_itself_is_zero():
    lm = np.stack([_face(s) for s in range(5)])
    assert M.lmd(lm, lm) == 0.0
    assert M.lmd(lm, lm, M.MOUTH) == 0.0


def test_shift_by_three_pixels_gives_face_lmd_three():
    lm = np.stack([_face(s) for s in range(4)])
    shifted = lm + np.array([3.0, 0.0])
    assert M.lmd(shifted, lm) == pytest.approx(3.0)
    diag = lm + np.array([3.0, 4.0])
    assert M.lmd(diag, lm) == pytest.approx(5.0)


def test_mouth_lmd_only_sees_the_mouth():
    lm = _face(0)[None]
    moved = lm.copy()
    moved[:, 48:68, 1] += 2.0
    assert M.lmd(moved, lm, M.MOUTH) == pytest.approx(2.0)
    assert M.lmd(moved, lm, M.FACE) == pytest.approx(2.0 * 20 / 68)


# --- lip sync -----------------------------------------------------------------------------------


def test_mouth_opening_measures_inner_lip_gap():
    lm = _face(0)
    closed = lm.copy()
    closed[[65, 66, 67], 1] = closed[[63, 62, 61], 1]
    opened = closed.copy()
    opened[[65, 66, 67], 1] += 7.0
    op = M.mouth_opening(np.stack([closed, opened]))
    assert op[0] == pytest.approx(0.0, abs=1e-9)
    assert op[1] == pytest.approx(7.0)


def test_lag_correlation_finds_a_known_delay():
    rng = np.random.default_rng(0)
    real = np.convolve(rng.normal(size=120), np.ones(3) / 3, mode="same")
    late = np.concatenate([np.zeros(2), real[:-2]])  # generated[t + 2] = real[t]
    res = M.lag_correlation(late, real, max_lag=6)
    assert res.lag == 2
    assert res.peak == pytest.approx(1.0, abs=1e-9)
    assert res.corr < res.peak
    early = np.concatenate([real[3:], np.zeros(3)])
    assert M.lag_correlation(early, real, max_lag=6).lag == -3


def test_pearson_is_nan_for_a_constant_curve():
    assert math.isnan(M.pearson(np.ones(10), np.arange(10)))
    assert M.pearson(np.arange(10), 2 * np.arange(10) + 1) == pytest.approx(1.0)
    assert M.pearson(np.arange(10), -np.arange(10.0)) == pytest.approx(-1.0)


# --- emotion, stability, drift ---------------------------------------------------------------------


def test_emotion_transfer_ignores_head_motion_and_follows_brows():
    ref = _face(0)
    t = np.linspace(0, 2 * np.pi, 30)
    real = np.repeat(ref[None], 30, axis=0)
    real[:, 17:27, 1] -= 3.0 * np.sin(t)[:, None]  # brows rise and fall
    # the output does the same brow motion while the head rolls, scales and moves
    gen = np.stack([_rotate(real[i], 8.0 * math.sin(i / 4), 1.0 + 0.05 * math.cos(i / 5), (i * 0.3, -i * 0.2))
                    for i in range(30)])
    assert M.emotion_transfer(gen, real, ref, ref) == pytest.approx(1.0, abs=1e-6)
    still = np.stack([_rotate(ref, 8.0 * math.sin(i / 4)) for i in range(30)])
    flipped = real.copy()
    flipped[:, 17:27, 1] = 2 * ref[17:27, 1] - real[:, 17:27, 1]
    assert M.emotion_transfer(flipped, real, ref, ref) == pytest.approx(-1.0, abs=1e-6)
    assert np.abs(M.upper_face_displacements(still, ref)).max() < 1e-6


def test_jitter_is_zero_for_constant_velocity_and_ratio_compares_noise():
    ref = _face(0)
    steady = np.stack([ref + [0.5 * i, 0.2 * i] for i in range(20)])
    assert M.jitter(steady) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(1)
    real = steady + rng.normal(0, 0.2, steady.shape)
    noisy = steady + rng.normal(0, 0.6, steady.shape)
    assert M.jitter_ratio(real, real) == pytest.approx(1.0)
    assert M.jitter_ratio(noisy, real) == pytest.approx(3.0, rel=0.15)


def test_shape_drift_grows_with_a_slow_shape_change_but_not_with_head_motion():
    ref = _face(0)
    moving = np.stack([_rotate(ref, 5.0 * math.sin(i / 10), 1.02, (i * 0.1, 0.0)) for i in range(250)])
    d0 = M.shape_drift(moving, ref)
    assert d0.max < 1e-6
    drifting = moving.copy()
    drifting[:, 48:68, 1] += np.linspace(0.0, 6.8, 250)[:, None]  # the mouth sinks 6.8 px over 10 s
    d = M.shape_drift(drifting, ref)
    assert d.start < 0.3 and 1.5 < d.end < 2.0 and d.max >= d.end


def test_pearson_treats_round_off_noise_as_constant():
    assert math.isnan(M.pearson(1e-13 * np.random.default_rng(0).normal(size=50), np.arange(50.0)))


def test_grayscale_ssim_matches_scikit_image_too():
    skm = pytest.importorskip("skimage.metrics")
    a = _image(4)[:, :, 0]
    b = np.roll(a, 3, axis=1)
    ref = skm.structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=255)
    assert M.ssim(a, b) == pytest.approx(ref, abs=1e-9)


def test_mouth_width_is_the_corner_distance():
    lm = _face(0)
    lm[48] = [100.0, 180.0]
    lm[54] = [148.0, 194.0]
    assert M.mouth_width(np.stack([lm, lm]))[1] == pytest.approx(50.0)
