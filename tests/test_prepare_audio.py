"""Audio decoding and MFCC windows: against the golden data (eamm_golden_v1 §3, needs ../shared), and
across containers and codecs on the sample speech (and the shared speech when present)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import SAMPLE_SPEECH, shared_path

from eamm_core.errors import InputError
from eamm_core.prepare.audio import compute_mfcc, ffmpeg_exe, frame_loudness, load_audio, mfcc_windows, num_windows

#: MFCC of the same speech stored as 16 kHz WAV and as 192 kbit/s 44.1 kHz stereo MP3 (lossy coding
#: and resampling change the upper cepstral coefficients a little): relative L2 difference of all
#: windows, and mean absolute difference (MFCC values span about -46..35).
MP3_REL_L2_TOL = 0.08
MP3_MEAN_ABS_TOL = 1.0


@pytest.fixture(scope="module")
def speech7():
    return load_audio(shared_path("fixtures", "audio", "speech_7s.wav", why="the speech the golden data was made from"))


@pytest.fixture(scope="module", params=["sample", "speech_7s"])
def speech_wav(request, tmp_path_factory):
    """A speech WAV: the repo's sample with a recording's noise floor, and the shared 7 s recording
    when present. (The synthesized sample's pauses are digital zeros, whose MFCC is log(eps): any
    resampling or lossy coding turns them into faint noise with very different coefficients.)"""
    if request.param == "speech_7s":
        return shared_path("fixtures", "audio", "speech_7s.wav", why="a real speech recording")
    import soundfile

    samples, rate = soundfile.read(SAMPLE_SPEECH, dtype="float32")
    floor = np.random.default_rng(0).normal(0.0, 1e-3, samples.shape).astype(np.float32)  # about -60 dBFS
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    soundfile.write(path, samples + floor, rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def speech(speech_wav):
    return load_audio(speech_wav)


def test_decoding_matches_the_reference_exactly(speech7, golden):
    ref = golden["in_speech_first8000"]
    assert speech7.sample_rate == 16000 and speech7.samples.dtype == np.float32
    np.testing.assert_array_equal(speech7.samples[:8000], ref)


def test_raw_mfcc_rows_match_golden(speech7, golden):
    ref = golden["in_mfcc_raw_first100"]
    assert speech7.mfcc.shape == (725, 13) and speech7.mfcc.dtype == np.float64
    np.testing.assert_allclose(speech7.mfcc[:100], ref, rtol=0, atol=1e-9)
    assert speech7.mfcc[0, 0] == pytest.approx(-36.0437, abs=1e-3)  # log(eps) on the zero padding


def test_windows_match_golden_and_count(speech7, golden):
    ref = golden["in_mfcc_windows"][0]
    assert speech7.windows.dtype == np.float32
    np.testing.assert_allclose(speech7.windows[:6], ref, rtol=0, atol=1e-6)
    assert speech7.num_frames == int(golden["in_mfcc_num_windows_full_clip"]) == 175
    assert speech7.loudness.shape == (175,)


def test_window_layout_is_rows_4k_to_4k_plus_28_columns_1_to_12():
    mfcc = np.arange(61 * 13, dtype=np.float64).reshape(61, 13)
    win = mfcc_windows(mfcc)
    assert win.shape == (num_windows(61), 28, 12) == (9, 28, 12)
    np.testing.assert_array_equal(win[2], mfcc[8:36, 1:13].astype(np.float32))


def test_mp3_44k_stereo_agrees_with_wav(speech, speech_wav, tmp_path):
    wav = speech_wav
    mp3 = tmp_path / "speech.mp3"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "44100", "-ac", "2",
                    "-b:a", "192k", str(mp3)], check=True)
    other = load_audio(mp3)
    assert other.num_frames == speech.num_frames == {"speech.wav": 170, "speech_7s.wav": 175}[wav.name]
    diff = other.windows - speech.windows
    assert np.linalg.norm(diff) / np.linalg.norm(speech.windows) < MP3_REL_L2_TOL
    assert np.abs(diff).mean() < MP3_MEAN_ABS_TOL
    # not trivially equal: it really went through a lossy codec
    assert np.abs(diff).max() > 0.01


def test_audio_track_of_a_video(speech, speech_wav, tmp_path):
    wav = speech_wav
    clip = tmp_path / "talk.mp4"
    seconds = len(speech.samples) / speech.sample_rate + 0.02
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=gray:s=64x64:r=25:d={seconds:.2f}", "-i", str(wav), "-shortest", "-c:v", "libx264",
                    "-c:a", "aac", "-b:a", "192k", str(clip)], check=True)
    other = load_audio(clip)
    assert abs(other.num_frames - speech.num_frames) <= 1
    t = min(other.num_frames, speech.num_frames)
    rel = np.linalg.norm(other.windows[:t] - speech.windows[:t]) / np.linalg.norm(speech.windows[:t])
    assert rel < MP3_REL_L2_TOL


def test_frame_count_formula_for_any_length():
    rng = np.random.default_rng(0)
    for n in (721, 1000, 16000, 16001, 33333):
        mfcc = compute_mfcc(rng.standard_normal(n).astype(np.float32) * 0.1)
        assert mfcc_windows(mfcc).shape[0] == mfcc.shape[0] // 4 - 6


def test_loudness_follows_the_signal():
    sr = 16000
    x = np.zeros(sr, np.float32)
    x[6400:9600] = 0.5 * np.sin(np.arange(3200) * 2 * np.pi * 220 / sr)  # frames 10..14 loud
    loud = frame_loudness(x, 25)
    assert loud[11] > 0.8 and loud[2] == 0.0 and loud[20] == 0.0


def test_silent_and_too_short_audio(tmp_path):
    import soundfile

    soundfile.write(tmp_path / "quiet.wav", np.zeros(32000, np.float32), 16000)
    with pytest.raises(InputError, match="silent in quiet.wav"):
        load_audio(tmp_path / "quiet.wav")
    soundfile.write(tmp_path / "blip.wav", 0.3 * np.ones(400, np.float32), 16000)
    with pytest.raises(InputError, match="too short.*blip.wav"):
        load_audio(tmp_path / "blip.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match="empty in empty.wav"):
        load_audio(tmp_path / "empty.wav")


def test_sndfile_decoding_equals_librosa_load(tmp_path):
    """Resampled stereo WAV and FLAC decode exactly as the reference's librosa.load(sr=16000)."""
    import librosa
    import soundfile

    from eamm_core.prepare.audio import decode_audio

    rng = np.random.default_rng(5)
    t = np.arange(44100 * 2) / 44100.0
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(t.size)
    stereo = np.column_stack([left, 0.5 * left[::-1]]).astype(np.float32)
    for name in ("s44.wav", "s44.flac"):
        soundfile.write(tmp_path / name, stereo, 44100)
        ref, _ = librosa.load(tmp_path / name, sr=16000)
        ours = decode_audio(tmp_path / name)
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("suffix,codec", [(".ogg", "libvorbis"), (".m4a", "aac"), (".flac", "flac")])
def test_other_containers_give_the_same_frames(speech, speech_wav, tmp_path, suffix, codec):
    wav = speech_wav
    out = tmp_path / f"speech{suffix}"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "48000", "-c:a", codec,
                    "-b:a", "192k", str(out)], check=True)
    other = load_audio(out)
    assert abs(other.num_frames - speech.num_frames) <= 1
    t = min(other.num_frames, speech.num_frames)
    rel = np.linalg.norm(other.windows[:t] - speech.windows[:t]) / np.linalg.norm(speech.windows[:t])
    assert rel < MP3_REL_L2_TOL
