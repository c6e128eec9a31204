"""Long speech: every motion stage's memory grows linearly with the length, decoding can be
interrupted between chunks, a transcript is aligned segment by segment (issue 13, item 1)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from eamm_core.engines.landmark import mouth
from eamm_core.engines.landmark.phonemes import PhoneSegments
from eamm_core.engines.landmark.visemes import VISEMES

LABELS = ("M", "AA", "P", "IY", "S", "SIL", "OW", "F", "AE", "B", "UW", "T")


def _synthetic_phones(seconds: float, seed: int = 0) -> PhoneSegments:
    """Contiguous phones of 50-200 ms for ``seconds``."""
    rng = np.random.default_rng(seed)
    durations = rng.uniform(0.05, 0.2, size=int(seconds / 0.1) + 10)
    ends = np.cumsum(durations)
    ends = ends[: int(np.searchsorted(ends, seconds)) + 1]
    starts = np.concatenate([[0.0], ends[:-1]])
    labels = tuple(LABELS[i] for i in rng.integers(0, len(LABELS), size=len(ends)))
    return PhoneSegments(labels, starts, ends, "recognition")


def _blend_all(phones: PhoneSegments, shapes, grid: np.ndarray) -> np.ndarray:
    """The blend against every phone at once (quadratic; the definition the blocks must match)."""
    starts, ends = phones.starts, phones.ends
    centre, half = (starts + ends) / 2.0, np.maximum((ends - starts) / 2.0, 1e-3)
    dist = np.maximum(np.abs(grid[:, None] - centre[None, :]) - half[None, :], 0.0)
    dom = np.array([s.dominance for s in shapes])[None, :] * np.exp(-(dist / mouth.SPREAD_S) ** 2) + 1e-9
    targets = np.array([[s.open, s.width, s.round, s.raise_, s.tuck] for s in shapes])
    return dom @ targets / dom.sum(1, keepdims=True)


def _blend_peak(seconds: float) -> int:
    phones = _synthetic_phones(seconds)
    shapes = mouth._segment_shapes(phones)
    grid = (np.arange(int(seconds * mouth.GRID_HZ)) + 0.5) / mouth.GRID_HZ + mouth.LEAD_S
    tracemalloc.start()
    try:
        mouth._blend(phones, shapes, grid)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_mouth_blend_matches_the_all_phones_blend_across_blocks():
    phones = _synthetic_phones(70.0, seed=3)  # several blocks of 20 s
    shapes = mouth._segment_shapes(phones)
    grid = (np.arange(7000) + 0.5) / mouth.GRID_HZ + mouth.LEAD_S
    np.testing.assert_allclose(mouth._blend(phones, shapes, grid), _blend_all(phones, shapes, grid), atol=1e-6)


def test_mouth_blend_memory_grows_linearly_with_the_length():
    short, long = _blend_peak(30.0), _blend_peak(240.0)  # 8x longer
    assert long < 12 * short, (short, long)  # quadratic would be ~64x
    assert long < 16 * 2**20  # 4 minutes in well under 16 MB (the old blend: ~400 MB per array)


def test_mouth_blend_far_from_every_phone_takes_the_nearest_phones():
    phones = PhoneSegments(("AA", "M"), np.array([0.0, 0.2]), np.array([0.2, 0.4]), "recognition")
    shapes = mouth._segment_shapes(phones)
    out = mouth._blend(phones, shapes, np.array([0.1, 30.0, 60.0]))
    assert np.isfinite(out).all()
    assert out[0, 0] > VISEMES["sil"].open  # inside the AA: open


def test_mfcc_in_blocks_equals_one_call_on_the_whole_signal():
    from python_speech_features import mfcc

    from eamm_core.prepare import audio

    rng = np.random.default_rng(5)
    speech = (rng.standard_normal(16000 * 75 + 123) * 0.1).astype(np.float32)  # 13 blocks of 60 s rows
    pad = np.zeros(audio.PAD_SAMPLES)
    whole = mfcc(np.concatenate([pad, speech.astype(np.float64), pad]), 16000, winstep=0.01)
    blocks = audio.compute_mfcc(speech)
    assert blocks.shape == whole.shape
    np.testing.assert_array_equal(blocks, whole)


def _features_peak(minutes: float) -> int:
    from eamm_core.prepare import audio

    samples = (np.random.default_rng(2).standard_normal(int(16000 * 60 * minutes)) * 0.1).astype(np.float32)
    tracemalloc.start()
    try:
        mfcc = audio.compute_mfcc(samples)
        audio.mfcc_windows(mfcc)
        audio.frame_loudness(samples, audio.num_windows(len(mfcc)))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_audio_features_memory_is_bounded_blocks_plus_small_per_frame_results():
    short, long = _features_peak(2.0), _features_peak(8.0)
    assert long < 1.6 * short, (short, long)  # the whole-signal MFCC grew 4x (~100 MB a minute)
    assert long < 160 * 2**20, long
