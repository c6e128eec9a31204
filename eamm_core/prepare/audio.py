"""Speech -> :class:`~eamm_core.types.AudioFeatures` (the MFCC bit-for-bit the reference
implementation's).

Decoding: WAV/FLAC/OGG/AIFF are read with libsndfile exactly as the reference's
``librosa.load(path, sr=16000)`` does (mono = mean of the channels, soxr 'HQ' resampling; the
test suite checks bit-equality with librosa); anything else (MP3, M4A/AAC, Opus, the
audio track of a video) is decoded by the ffmpeg binary shipped with imageio-ffmpeg to 16 kHz
mono signed 16-bit PCM.

MFCC: 1920 zeros are added before and after the signal (3 video frames), then
``python_speech_features.mfcc(signal, 16000, winstep=0.01)`` with its defaults gives rows at
100 Hz; video frame k (25 fps) reads rows [4k, 4k+28) and coefficients 1..12, so
T = floor(N/4) - 6 windows of [28,12] float32.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import numpy as np

from eamm_core.cache import file_sha256
from eamm_core.cancel import check_cancelled
from eamm_core.errors import InputError
from eamm_core.ffmpeg import ffmpeg_exe
from eamm_core.types import AudioFeatures

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
PAD_SAMPLES = 1920
ROWS_PER_FRAME = 4
WINDOW_ROWS = 28
FPS = 25.0
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640
#: python_speech_features' defaults at 16 kHz: 25 ms frames every 10 ms
FRAME_LEN, FRAME_STEP = 400, 160
#: audio frames read from a file at a time
READ_BLOCK = 1 << 20
#: MFCC rows computed at a time (60 s of audio: ~60 MB of FFT buffers)
MFCC_BLOCK = 6000
#: peak below this (about -80 dBFS) counts as silence
SILENCE_PEAK = 1e-4
LOUDNESS_FLOOR_DB = -60.0
#: containers that libsndfile (through librosa) reads directly, as the reference does
SNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff"}


def _ffmpeg_problem(path: Path, stderr: str) -> InputError:
    text = stderr.strip().splitlines()
    last = text[-1] if text else "ffmpeg could not read it"
    low = stderr.lower()
    if "does not contain any stream" in low or "matches no streams" in low or "output file is empty" in low:
        return InputError(path, "no audio track", "use a file that contains speech (WAV, MP3, M4A, FLAC, OGG or a video with sound)")
    if "invalid data" in low or "could not find codec" in low or "unknown format" in low:
        return InputError(path, "not an audio or video file, or it is damaged",
                          "use a WAV, MP3, M4A, FLAC or OGG file, or a video with sound")
    return InputError(path, f"unreadable audio ({last[:160]})", "re-export it as a 16-bit WAV file")


def read_audio_track(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the (first) audio track of any file ffmpeg reads to mono float32 at ``sample_rate``."""
    path = Path(path)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
           "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(int(sample_rate)),
           "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        check_cancelled()  # Ctrl-C reaches ffmpeg too: a cancelled job, not a damaged file
        raise _ffmpeg_problem(path, proc.stderr.decode("utf-8", "replace"))
    pcm = np.frombuffer(proc.stdout, dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def _read_sndfile(path: Path) -> np.ndarray | None:
    """What ``librosa.load(path, sr=16000)`` returns (float32 read, mean of the channels, soxr
    'HQ' resampling, length ceil(n * ratio)) without importing librosa (seconds of start-up).
    None when libsndfile cannot read the file (then ffmpeg decodes it)."""
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as fh:
            native = int(fh.samplerate)
            y = _read_mono(fh)
    except soundfile.LibsndfileError:
        return None  # not a libsndfile format, or damaged: let ffmpeg try and explain
    except (RuntimeError, ValueError, OSError) as exc:
        raise InputError(path, f"unreadable or truncated audio ({type(exc).__name__})",
                         "re-export it as a 16-bit WAV file") from None
    if native != SAMPLE_RATE and y.size:
        import soxr

        n_out = int(np.ceil(y.shape[0] * float(SAMPLE_RATE) / native))
        y = soxr.resample(y, native, SAMPLE_RATE, quality="soxr_hq")
        y = y[:n_out] if len(y) >= n_out else np.pad(y, (0, n_out - len(y)))
    return np.ascontiguousarray(y, dtype=np.float32)


def _read_mono(fh) -> np.ndarray:
    """The file's samples as float32 mono (mean of the channels, as librosa), read a block at a time
    so a long multi-channel file is never held whole."""
    y = np.empty(fh.frames, np.float32)
    done = 0
    for block in fh.blocks(blocksize=READ_BLOCK, dtype="float32", always_2d=True):
        check_cancelled()
        n = min(len(block), len(y) - done)
        y[done:done + n] = (np.mean(block.T, axis=0) if block.shape[1] > 1 else block[:, 0])[:n]
        done += n
    return y[:done]


def decode_audio(path: str | Path) -> np.ndarray:
    """Any supported audio/video file -> mono 16 kHz float32 samples in [-1, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found", "check the path")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty", "use a file that contains speech")
    samples = _read_sndfile(path) if path.suffix.lower() in SNDFILE_SUFFIXES else None
    if samples is None:
        samples = read_audio_track(path)
    return samples


def compute_mfcc(samples_16k: np.ndarray) -> np.ndarray:
    """Raw MFCC rows [N,13] float64 of the zero-padded signal (as the reference implementation
    pads it), computed in blocks of :data:`MFCC_BLOCK` rows (bounded memory) with the same numbers as
    one call on the whole signal: the pre-emphasis is applied here and every block is framed exactly
    as the whole would be."""
    from python_speech_features import mfcc

    speech = np.asarray(samples_16k, np.float32)
    slen = len(speech) + 2 * PAD_SAMPLES
    rows = 1 if slen <= FRAME_LEN else 1 + int(np.ceil((slen - FRAME_LEN) / FRAME_STEP))
    out = np.empty((rows, 13), np.float64)
    for r0 in range(0, rows, MFCC_BLOCK):
        check_cancelled()
        r1 = min(rows, r0 + MFCC_BLOCK)
        a, b = r0 * FRAME_STEP, (r1 - 1) * FRAME_STEP + FRAME_LEN
        block = _emphasised(speech, a, b, slen)
        out[r0:r1] = mfcc(block, SAMPLE_RATE, winstep=0.01, preemph=0.0)
    return out


def _emphasised(speech: np.ndarray, a: int, b: int, slen: int) -> np.ndarray:
    """Samples [a, b) of the zero-padded, pre-emphasised (0.97) float64 signal of length ``slen``,
    zeros past its end (what python_speech_features frames)."""
    lo = max(a - 1, 0)
    x = np.zeros(b - lo, np.float64)
    s0, s1 = max(lo, PAD_SAMPLES), min(b, PAD_SAMPLES + len(speech))
    if s1 > s0:
        x[s0 - lo:s1 - lo] = speech[s0 - PAD_SAMPLES:s1 - PAD_SAMPLES]
    y = np.empty(b - a, np.float64)
    if a == 0:
        y[0] = x[0]
        y[1:] = x[1:] - 0.97 * x[:-1]
    else:
        y[:] = x[1:] - 0.97 * x[:-1]
    y[max(slen - a, 0):] = 0.0  # python_speech_features pads after the pre-emphasis
    return y


def num_windows(num_rows: int) -> int:
    return max(0, num_rows // ROWS_PER_FRAME - 6)


def mfcc_windows(mfcc: np.ndarray) -> np.ndarray:
    """Per-frame windows [T,28,12] float32: window k = ``mfcc[4k:4k+28, 1:13]``."""
    mfcc = np.asarray(mfcc)
    t = num_windows(mfcc.shape[0])
    if t == 0:
        return np.zeros((0, WINDOW_ROWS, 12), np.float32)
    idx = ROWS_PER_FRAME * np.arange(t)[:, None] + np.arange(WINDOW_ROWS)[None, :]
    return mfcc[:, 1:13].astype(np.float32)[idx]  # same values; no [T,28,13] float64 copy


def frame_loudness(samples: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-frame loudness [T] in [0,1]: RMS of each 40 ms frame in dBFS, mapped from [-60, 0] dB
    (computed :data:`MFCC_BLOCK` frames at a time: no float64 copy of the whole signal)."""
    x = np.asarray(samples, np.float32)
    rms = np.zeros(num_frames, np.float64)
    for f0 in range(0, num_frames, MFCC_BLOCK):
        f1 = min(num_frames, f0 + MFCC_BLOCK)
        part = x[f0 * SAMPLES_PER_FRAME:f1 * SAMPLES_PER_FRAME]
        part = np.pad(part, (0, (f1 - f0) * SAMPLES_PER_FRAME - len(part)))
        frames = part.reshape(f1 - f0, SAMPLES_PER_FRAME).astype(np.float64)
        rms[f0:f1] = np.sqrt((frames ** 2).mean(axis=1))
    db = 20.0 * np.log10(np.maximum(rms, 1e-10))
    return np.clip((db - LOUDNESS_FLOOR_DB) / -LOUDNESS_FLOOR_DB, 0.0, 1.0).astype(np.float32)


def peak_level(samples: np.ndarray) -> float:
    """Largest absolute sample value, without an absolute-value copy of the signal."""
    x = np.asarray(samples)
    return float(max(x.max(), -x.min())) if x.size else 0.0


def load_audio(path: str | Path) -> AudioFeatures:
    """Decode speech and compute everything the model reads from it (see module docstring)."""
    path = Path(path)
    samples = decode_audio(path)
    if samples.size == 0:
        raise InputError(path, "no audio samples", "use a file that contains speech")
    peak = peak_level(samples)  # NaN or inf when any sample is
    if not np.isfinite(peak):
        raise InputError(path, "the audio contains invalid (NaN/inf) samples", "re-export it as a 16-bit WAV file")
    if peak < SILENCE_PEAK:
        raise InputError(path, "the audio is silent", "use a recording with audible speech")
    mfcc = compute_mfcc(samples)
    windows = mfcc_windows(mfcc)
    if windows.shape[0] < 1:
        raise InputError(path, f"the audio is too short ({len(samples) / SAMPLE_RATE * 1000:.0f} ms)",
                         "use at least 50 ms of speech (one 25 fps frame)")
    warnings = []
    if peak >= 0.999:
        warnings.append(f"{path.name} is clipped (peaks at full scale); lip sync may suffer")
    return AudioFeatures(samples=samples, sample_rate=SAMPLE_RATE, mfcc=mfcc, windows=windows,
                         loudness=frame_loudness(samples, windows.shape[0]), path=path,
                         sha256=file_sha256(path), warnings=tuple(warnings))
