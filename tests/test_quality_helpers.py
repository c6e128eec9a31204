"""bench/quality_helpers.py: real-clip alignment, per-crop landmarks, scoring, bench inputs/outputs."""

from __future__ import annotations

import sys
import wave

import numpy as np
import pytest
from conftest import REPO, sample_face_rgb, shared_path, write_clip

sys.path.insert(0, str(REPO / "bench"))
import metrics as M
import quality_helpers as H

CLIP = ("fixtures", "talking", "M030_sad_3_001.mp4")


def _drifting_sample_clip(path):
    """A 960x720 clip of the sample face, enlarged, drifting 1 px every other frame (a head that barely moves)."""
    import cv2

    big = cv2.resize(np.asarray(sample_face_rgb()), (384, 384), interpolation=cv2.INTER_CUBIC)
    frames = []
    for i in range(8):
        canvas = np.full((720, 960, 3), 80, np.uint8)
        canvas[150 + i // 2:534 + i // 2, 280 + i // 2:664 + i // 2] = big
        frames.append(canvas)
    return write_clip(path, frames, 25)


@pytest.fixture(scope="module", params=["sample", "mead"])
def real_clip(request, tmp_path_factory):
    """The first 6 frames of a talking clip (made from the sample face, or the real MEAD clip), cropped
    with its first frame's portrait transform."""
    import cv2

    from eamm_core.prepare.portrait import load_portrait
    from eamm_core.prepare.video import read_frames

    if request.param == "sample":
        clip = _drifting_sample_clip(tmp_path_factory.mktemp("sample_clip") / "drift.mp4")
    else:
        clip = shared_path(*CLIP, why="a real MEAD recording")
    first = read_frames(clip, max_frames=1).frames[0]
    png = tmp_path_factory.mktemp("clip") / "source.png"
    cv2.imwrite(str(png), cv2.cvtColor(first, cv2.COLOR_RGB2BGR))
    crop = load_portrait(png)
    crops = H.crop_clip(clip, crop.crop_from_source, max_frames=6)
    return crop, crops, H.crop_landmarks(crops)


def test_first_cropped_frame_is_the_portrait_crop_and_landmarks_agree(real_clip):
    crop, crops, lm = real_clip
    assert crops.shape == (6, 256, 256, 3) and crops.dtype == np.uint8
    assert np.array_equal(crops[0], crop.image)
    # detected again in the 256 crop, the landmarks land where the portrait preparation put them
    assert M.lmd(lm[0], crop.landmarks_px) < 2.0
    # the real head barely moves in 6 frames (0.24 s): the fixed crop keeps it in place
    assert M.lmd(lm[5], lm[0], np.arange(27, 48)) < 4.0


def test_missing_face_reuses_previous_box_or_gives_nan(real_clip):
    _, crops, lm = real_clip
    blank = np.full_like(crops[0], 90)
    out = H.crop_landmarks([crops[0], blank])
    assert np.isfinite(out).all()  # the blank frame reused frame 0's box
    assert np.allclose(out[0], lm[0])
    assert np.isnan(H.crop_landmarks([blank])).all()


def test_evaluate_real_against_itself_is_perfect_and_a_shift_costs_its_size(real_clip):
    crop, crops, lm = real_clip
    s = H.evaluate(crops, lm, crops, lm, crop.image, lm[0], lm[0], embedder=None)
    assert s.ssim == pytest.approx(1.0) and s.psnr == np.inf
    assert s.m_lmd == 0.0 and s.f_lmd == 0.0 and s.jitter_ratio == pytest.approx(1.0)
    shifted = lm + np.array([3.0, 0.0])
    s2 = H.evaluate(crops, shifted, crops, lm, crop.image, lm[0], lm[0], embedder=None)
    assert s2.f_lmd == pytest.approx(3.0) and s2.m_lmd == pytest.approx(3.0)
    assert s2.emotion_corr == pytest.approx(s.emotion_corr, abs=1e-9)  # a translation carries no emotion
    assert s.open_ratio == pytest.approx(1.0) and s2.width_ratio == pytest.approx(1.0)
    wide = lm.copy()
    wide[:, [65, 66, 67], 1] += 2.0 * M.mouth_opening(lm)[:, None] + 1.0  # the inner lower lip drops further
    s3 = H.evaluate(crops, wide, crops, lm, crop.image, lm[0], lm[0], embedder=None)
    assert s3.open_ratio > 2.0


def test_silent_wav_is_quiet_but_accepted_by_the_audio_loader(tmp_path):
    from eamm_core.prepare.audio import load_audio

    wav = H.silent_wav(tmp_path / "s.wav", 2.0)
    with wave.open(str(wav)) as wf:
        assert wf.getframerate() == 16000 and wf.getnframes() == 32000
    audio = load_audio(wav)
    assert 1e-4 <= np.abs(audio.samples).max() < 1e-3
    assert abs(audio.num_frames - 50) <= 1


def test_side_by_side_writes_a_three_panel_video(tmp_path, real_clip):
    import imageio.v2 as imageio

    _, crops, _ = real_clip
    gen = crops[::-1].copy()
    out = H.side_by_side(crops, gen, tmp_path / "sbs.mp4", audio_source=None)
    reader = imageio.get_reader(str(out))
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == 6 and frames[0].shape == (256, 768, 3)
    # panel 3 shows |real - generated| x3: frame 0 pairs real frame 0 with real frame 5, which differ
    assert frames[0][:, 512:].mean() > 1.0
    assert np.abs(frames[0][:, :250].astype(int) - crops[0][:, :250]).mean() < 8


def test_still_baseline_scores_zero_correlation_and_finite_psnr(real_clip):
    crop, crops, lm = real_clip
    still = np.repeat(crops[0][None], len(crops), axis=0)
    still_lm = np.repeat(lm[0][None], len(crops), axis=0)
    s = H.evaluate(still, still_lm, crops, lm, crop.image, lm[0], lm[0], embedder=None)
    assert s.lip_corr == 0.0 and s.emotion_corr == 0.0 and s.jitter_ratio == 0.0
    # frame 0 is identical (infinite PSNR) and left out; the rest differ
    assert np.isfinite(s.psnr) and 20.0 < s.psnr < 60.0
    assert s.m_lmd > 0.0
