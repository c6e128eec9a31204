"""Long speech: every motion stage's memory grows linearly with the length, decoding can be
interrupted between chunks, a transcript is aligned segment by segment."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

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


# --- phone decoding in utterances: bounded calls, cancel between them ---------------------------

def _speech(seconds: float) -> np.ndarray:
    import soundfile
    from conftest import REPO

    one, _ = soundfile.read(str(REPO / "samples" / "speech.wav"), dtype="float32")
    reps = int(np.ceil(seconds * 16000 / len(one)))
    return np.concatenate([one] * reps)[: int(seconds * 16000)]


class _SetAfter:
    """A cancel event that reads as set from its ``n``-th check on (counts the checks)."""

    def __init__(self, n: int):
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n


def test_utterances_cover_the_audio_in_bounded_pieces_cut_in_pauses():
    from eamm_core.engines.landmark import phonemes

    x = _speech(60.0)
    bounds = phonemes.utterances(x)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(x)
    assert all(b0[1] == b1[0] for b0, b1 in zip(bounds, bounds[1:]))
    lengths = np.array([b - a for a, b in bounds]) / 16000
    assert lengths.max() <= phonemes.UTT_MAX_S and lengths[:-1].min() >= phonemes.UTT_MIN_S
    rms = phonemes.frame_rms(x)
    cut_level = [rms[a // 160 - 5:a // 160 + 5].mean() for a, _ in bounds[1:]]
    assert np.median(cut_level) < 0.2 * np.median(rms)  # cuts fall in quiet stretches
    assert phonemes.utterances(x[:16000 * 7]) == [(0, 16000 * 7)]  # short speech: one utterance


def test_phone_recognition_stops_between_utterances_when_cancelled(monkeypatch):
    from eamm_core.cancel import cancel_scope
    from eamm_core.engines.landmark import phonemes
    from eamm_core.errors import CancelledError

    calls = []
    real = phonemes._recognise_utterance
    monkeypatch.setattr(phonemes, "_recognise_utterance", lambda dec, pcm: calls.append(len(pcm)) or real(dec, pcm))
    x = _speech(40.0)
    flag = _SetAfter(2)  # set after the first utterance
    with cancel_scope(flag), pytest.raises(CancelledError):
        phonemes.recognise_phones(x)
    assert len(calls) == 1 and len(phonemes.utterances(x)) >= 5
    assert calls[0] <= phonemes.UTT_MAX_S * 16000 * 2  # one call decodes at most UTT_MAX_S of audio


def test_long_phone_recognition_offsets_utterances_to_the_recording_time():
    from eamm_core.engines.landmark import phonemes

    x = _speech(20.0)
    ph = phonemes.recognise_phones(x)
    assert np.all(np.diff(ph.starts) >= 0) and np.all(ph.ends > ph.starts)
    assert ph.starts[0] == 0.0 and abs(ph.ends[-1] - 20.0) < 0.05
    assert np.abs(ph.starts[1:] - ph.ends[:-1]).max() < 0.02 + 1e-9  # no gap over one frame at the cuts


# --- transcript alignment per segment, fallback announced ----------------------------------------

def test_words_are_shared_out_by_voiced_time():
    from eamm_core.engines.landmark.phonemes import share_words

    words = list("abcdefgh")
    pieces = share_words(words, [2] * 8, [30, 10, 0, 40])
    assert sum(pieces, []) == words
    assert [len(p) for p in pieces] == [3, 1, 0, 4]
    assert share_words(words, [1] * 8, [5]) == [words]


def test_alignment_runs_per_segment_and_a_failed_segment_is_announced(monkeypatch, caplog):
    from eamm_core.engines.landmark import phonemes

    seen = []

    def fake_align(dec, pcm, words):
        seen.append((len(pcm) // 2, tuple(words)))
        if len(seen) == 2:
            raise RuntimeError("Failed to set up sub-word alignment")
        n = len(pcm) // 2 // 160
        return ["SIL", "M", "AA"], [0, 10, 20], [10, 20, n]

    monkeypatch.setattr(phonemes, "_align", fake_align)
    x = _speech(30.0)
    text = " ".join(["maybe bob will bring a big map to the market"] * 5)
    with caplog.at_level("WARNING"):
        ph = phonemes.align_phones(x, text)
    bounds = phonemes.utterances(x)
    assert len(seen) == len(bounds) >= 4  # one alignment per segment, never the whole recording
    assert max(n for n, _ in seen) <= phonemes.UTT_MAX_S * 16000
    assert sum((list(w) for _, w in seen), []) == phonemes._words(text)  # every word once, in order
    assert ph.method == "alignment" and len(ph.warnings) == 1
    a, b = bounds[1]
    assert f"{a / 16000:.1f}-{b / 16000:.1f} s" in ph.warnings[0] and "transcript not used for" in ph.warnings[0]
    assert ph.warnings[0] in caplog.text
    seg2 = (ph.starts >= a / 16000) & (ph.ends <= b / 16000)
    assert seg2.sum() > 3  # recognised phones there, not the fake alignment's three


def test_sample_with_its_transcript_announces_the_fallback(caplog):
    from conftest import REPO

    from eamm_core.engines.landmark import phonemes
    from eamm_core.prepare.audio import load_audio

    audio = load_audio(REPO / "samples" / "speech.wav")
    text = "Maybe Bob will bring a big map to the market. Please pass me the blue paper, and keep it by the window."
    with caplog.at_level("WARNING"):
        ph = phonemes.phones_for_audio(audio.samples, text)
    if ph.method == "alignment" and not ph.warnings:
        assert len(ph) > 40  # aligned: all words' phones
    else:
        assert ph.warnings and "transcript not used" in ph.warnings[0] and ph.warnings[0] in caplog.text


# --- emotion clip: the clip's own frames, not one image per output frame ---------------------------

def test_emotion_clip_memory_does_not_grow_with_the_output_length(sample_clip):
    from eamm_core.prepare.emotion import augment_clip, load_emotion_clip

    path = sample_clip
    peaks = []
    for frames in (150, 600):
        tracemalloc.start()
        try:
            clip = load_emotion_clip(path, frames, seed=4)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks  # materialised, 600 frames took ~4x (230 MB)
    assert clip.augmented.shape == (600, 256, 256, 3) and len(clip.aligned) == 600
    # frames made on demand are those of the all-at-once augmentation, in any order
    ext = np.asarray(clip.aligned)
    whole, picked, _ = augment_clip(ext, 4)
    for i in (599, 3, 150, 64, 63, 0, 400):
        np.testing.assert_array_equal(clip.augmented[i], whole[i])
    np.testing.assert_array_equal(clip.aligned[picked[:5]], ext[picked[:5]])


# --- whole jobs --------------------------------------------------------------------------------

def _long_wav(tmp_path, minutes: float):
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "bench"))
    try:
        import long_audio
    finally:
        sys.path.remove(str(REPO / "bench"))
    path = tmp_path / "long.wav"
    long_audio.make_long_speech(path, minutes)
    return long_audio, path


def test_cancel_during_phone_decoding_ends_the_job_as_cancelled(tmp_path, monkeypatch):
    import threading

    from conftest import REPO

    from eamm_core.engines.landmark import phonemes
    from eamm_core.job import JobSpec
    from eamm_core.output import read_manifest
    from eamm_core.pipeline import run_job

    _, wav = _long_wav(tmp_path, 1.0)
    cancel = threading.Event()
    decoded = []
    real = phonemes._recognise_utterance

    def decode_then_cancel(dec, pcm):  # Ctrl-C (the CLI sets this event) arrives during the first utterance
        decoded.append(len(pcm))
        cancel.set()
        return real(dec, pcm)

    monkeypatch.setattr(phonemes, "_recognise_utterance", decode_then_cancel)
    spec = JobSpec(portrait=REPO / "samples" / "astronaut.png", audio=wav, emotion=REPO / "samples" / "happy.npz",
                   frame_end=5, write_mp4=False)
    res = run_job(spec, tmp_path / "out", cancel=cancel, use_cache=False)
    assert res.cancelled and res.frame_count == 0
    assert len(decoded) == 1  # stopped at the next utterance, not after the whole minute
    assert read_manifest(tmp_path / "out" / "manifest.json")["state"] == "cancelled"


def test_ten_minutes_of_speech_in_a_fresh_process_stays_under_one_gigabyte(tmp_path):
    """Peak resident memory of ``eamm generate`` on 10 minutes of speech with a short frame range
    (the motion stage still covers all 10 minutes); the process is stopped if it passes the bound."""
    long_audio, wav = _long_wav(tmp_path, 10.0)
    bound_gb = 1.0  # the bench measures ~0.3 GB (docs/benchmarks.md, long_audio)
    r = long_audio.run_one(wav, tmp_path / "out", tmp_path / "cache", long_audio.ROOT / "samples" / "happy.npz",
                           frame_end=3, cap_gb=bound_gb, extra=[])
    assert not r["killed"], f"passed {bound_gb} GB"
    assert r["rc"] == 0, r["last_error"]
    assert r["peak_rss_gb"] < bound_gb, r
    assert len(list((tmp_path / "out" / "frames").glob("frame_*.png"))) == 3


def test_reading_an_emotion_clip_stops_when_cancelled(sample_clip):
    from eamm_core.cancel import cancel_scope
    from eamm_core.errors import CancelledError
    from eamm_core.prepare.emotion import load_emotion_clip

    flag = _SetAfter(4)  # set while the fourth frame is read
    with cancel_scope(flag), pytest.raises(CancelledError):
        load_emotion_clip(sample_clip, 100)
    assert flag.checks == 4  # checked once per clip frame, stopped at once


def test_transcript_fallback_reaches_the_job_warnings_also_from_the_cache(tmp_path):
    from conftest import REPO

    from eamm_core.job import JobSpec
    from eamm_core.output import read_manifest
    from eamm_core.pipeline import run_job

    # "zzyzx" is not in the dictionary: recognition instead, announced
    spec = JobSpec(portrait=REPO / "samples" / "astronaut.png", audio=REPO / "samples" / "speech.wav",
                   emotion=REPO / "samples" / "happy.npz", transcript="maybe zzyzx will bring a big map",
                   frame_end=2, write_mp4=False)
    for run in range(2):  # computed, then from the motion cache
        res = run_job(spec, tmp_path / f"out{run}", cache_dir=tmp_path / "cache")
        said = [w for w in res.warnings if "transcript not used" in w]
        assert len(said) == 1 and "zzyzx" in said[0], res.warnings
        assert said[0] in read_manifest(tmp_path / f"out{run}" / "manifest.json")["warnings"]
    assert "motion" in res.cached_stages
