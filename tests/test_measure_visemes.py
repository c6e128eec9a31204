"""scripts/measure_visemes.py: the real-speaker lip measures behind the viseme widths.

On synthetic landmarks with a known opening (exact), then on the MEAD clips of ``../shared``: the
held-out talking clip's bilabials read closed beside its open vowels, and the committed viseme widths
are the ones the measurement fits (re-running the fit on the current table asks for no change).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import REPO, shared_path

sys.path.insert(0, str(REPO / "scripts"))

import measure_visemes as mv

WHY = "real MEAD talking clips, to measure real speakers' lips"


def _face(gaps: np.ndarray, width: float = 40.0) -> np.ndarray:
    """Landmarks [T,68,2] with eyes 50 px apart and inner lips ``gaps`` (px) apart."""
    lm = np.zeros((len(gaps), 68, 2))
    lm[:, 36:42] = (100.0, 100.0)
    lm[:, 42:48] = (150.0, 100.0)
    lm[:, 48], lm[:, 54] = (125.0 - width / 2, 170.0), (125.0 + width / 2, 170.0)
    lm[:, 61:64, 1] = 170.0 - gaps[:, None] / 2
    lm[:, 65:68, 1] = 170.0 + gaps[:, None] / 2
    lm[:, 61:68, 0] = 125.0
    return lm


def test_opening_swing_and_peaks_of_a_known_mouth():
    t = np.arange(250) / mv.FPS
    syllables = 0.5 * (1 - np.cos(2 * np.pi * 4.0 * t))  # 0..1 at 4 Hz
    # IOD 50 px: a held posture of 0.10 IOD, syllables up to 0.20 IOD more, a 1 px (0.02 IOD) rest gap
    gaps = 1.0 + 50.0 * (0.10 * (t > 1.0) + 0.20 * syllables * (t > 2.0))
    m = mv.mouth_from_landmarks("synthetic", _face(gaps))
    assert m.rest_gap == pytest.approx(0.02, abs=1e-9)
    assert m.opening.max() == pytest.approx(0.30, abs=1e-3)
    a = mv.articulation(m.opening)
    assert a.rate == pytest.approx(4.0 * 8 / 10, abs=0.3)  # 4 Hz over the last 8 of 10 s
    assert np.median(a.prominences) == pytest.approx(0.20, abs=0.02)
    # the swing is the syllables' RMS (0.2 x 0.5 / sqrt 2 for the cosine part), not the posture
    assert mv.swing(m.opening) == pytest.approx(0.2 * 0.5 / np.sqrt(2), rel=0.2)
    still = mv.mouth_from_landmarks("posture", _face(1.0 + 5.0 * (t > 1.0)))
    assert mv.swing(still.opening) < 0.01


def test_narrowing_scales_only_the_narrow_visemes():
    t = mv.Targets.current().with_narrowing(0.5)
    for name, shape in mv.VISEMES.items():
        want = 1 - 0.5 * (1 - shape.width) if shape.width < 1 else shape.width
        assert t.visemes[name].width == pytest.approx(want)
        assert t.visemes[name].open == shape.open
    assert t.narrowing == pytest.approx(0.5 * mv.ROUND_NARROWING)


@pytest.mark.timeout(300)
def test_bilabials_read_closed_beside_open_vowels_on_a_real_speaker():
    clip = shared_path("fixtures", "talking", "M030_sad_3_001.mp4", why=WHY)
    m = mv.clip_mouth(clip)
    speech = mv.load_speech(clip)
    by = mv.per_viseme(m.opening, mv.phone_frames(speech.phones, len(m.opening)))
    vowels = np.concatenate([by[v] for v in ("aa", "E", "oh") if v in by])
    assert len(by["PP"]) >= 1 and len(vowels) >= 3
    assert np.median(by["PP"]) < 0.5 * np.median(vowels), (by["PP"], vowels)
    assert m.rest_gap < 0.05  # closed lips read as closed


@pytest.mark.timeout(600)
def test_committed_widths_are_the_fitted_ones():
    clips = [shared_path("fixtures", "emotion", n, why=WHY) for n in ("disgusted.mp4", "sad.mp4", "happy.mp4")]
    speech = [mv.load_speech(shared_path("fixtures", "audio", n, why=WHY)) for n in ("speech_7s.wav", "speech_11s.wav")]
    speakers = [mv.Speaker(mv.clip_mouth(c), 0.0, 1.0) for c in clips]
    a = mv.fit_narrowing(speakers, speech, mv.Targets.current())
    assert a == pytest.approx(1.0, abs=0.1)
    # the measure discriminates: three times the narrowing (about the table before the fit) is far off
    more = mv.Targets.current().with_narrowing(3.0)
    more_p5 = np.mean([np.percentile(mv.engine_mouth(s, more)[1], 5) for s in speech])
    real_p5 = np.mean([np.percentile(sp.mouth.width, 5) for sp in speakers])
    assert real_p5 - more_p5 > 0.05
