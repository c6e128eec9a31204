"""Shared test helpers: the repo's own samples, and the read-only reference data (``../shared``).

Most tests run from what the repository ships (``samples/``: a portrait, a speech WAV, an emotion
preset) or from data they make themselves. Only tests that need the reference data read
``../shared`` beside the checkout (or ``$EAMM_SHARED``): the golden outputs of the authors'
networks, and real recordings (photographs, speech, MEAD emotion clips) for quality checks. Those
skip through :func:`shared_path`, whose reason says what is missing and why.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EAMM_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
GOLDEN = SHARED / "golden" / "eamm_golden_v1.npz"

SAMPLES = REPO / "samples"
SAMPLE_PORTRAIT = SAMPLES / "astronaut.png"  # scripts/make_sample_portrait.py
SAMPLE_SPEECH = SAMPLES / "speech.wav"  # scripts/make_sample_speech.py
SAMPLE_PRESET = SAMPLES / "happy.npz"  # scripts/make_emotion_preset.py

SKIP_PREFIX = "needs ../shared/"
# Why each part of ../shared is needed, for the skip reason.
WHY = {
    "golden": "the authors' network outputs under synthetic weights",
    "docs": "the authors' checkpoint key list",
    "fixtures": "real recordings: photographs, speech, MEAD emotion clips",
}


def shared_reason(*parts: str, why: str | None = None) -> str:
    """The skip reason of a test that needs ``../shared/<parts>``."""
    why = why or WHY.get(parts[0] if parts else "", "reference data")
    return f"{SKIP_PREFIX}{'/'.join(parts)} ({why}); absent in this checkout (looked in {SHARED})"


def shared_path(*parts: str, why: str | None = None) -> Path:
    """Path under ../shared, or skip the test saying what is missing and why the test needs it."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(shared_reason(*parts, why=why))
    return path


def write_clip(path: Path, frames, fps: float = 25.0) -> Path:
    """Write RGB frames as a lossless H.264 MP4 (yuv444p, crf 0): a clip made inside a test."""
    import imageio_ffmpeg

    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv444p",
                                         output_params=["-crf", "0"], macro_block_size=1)
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame).tobytes())
    writer.close()
    return path


def portrait_path(name: str) -> Path:
    """A portrait by name: ``astronaut.png`` is the repo's sample; the others are the real photographs
    of ``../shared/fixtures/portraits`` (skipping when absent)."""
    if name == SAMPLE_PORTRAIT.name:
        return SAMPLE_PORTRAIT
    return shared_path("fixtures", "portraits", name, why="real photographs for quality checks")


@functools.cache
def sample_face_rgb():
    """The sample portrait's 256x256 aligned face crop (RGB uint8), as ``load_portrait`` makes it:
    a face framed like the 256 px fixture portraits. Callers get a read-only array."""
    from eamm_core.prepare.portrait import load_portrait

    rgb = load_portrait(SAMPLE_PORTRAIT).image.copy()
    rgb.setflags(write=False)
    return rgb


def sample_face_clip(path: Path, frames: int = 30, fps: float = 25.0):
    """A talking-head-like clip made from the sample face crop: the face drifts a few pixels, turns a
    little and its brightness breathes, frame by frame (no real recording needed)."""
    import cv2

    rgb = sample_face_rgb()
    h, w = rgb.shape[:2]
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 3.0 * np.sin(2 * np.pi * t), 1.0 + 0.02 * t)
        m[:, 2] += (6.0 * np.sin(2 * np.pi * t), 3.0 * t)
        img = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out.append(np.clip(img.astype(np.float32) * (1.0 + 0.03 * np.sin(4 * np.pi * t)), 0, 255).astype(np.uint8))
    return write_clip(path, out, fps)


def pose_3ddfa(frames: int = 93, seed: int = 0):
    """A head-pose sequence in 3DDFA's layout ([T, 7]: yaw, pitch, roll in degrees, scale, tx, ty, tz),
    a smooth sway with small jitter in the value ranges of a real talking-head track."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 25.0
    jitter = rng.normal(0.0, 0.15, (frames, 3))
    out = np.column_stack([
        -9.0 + 4.0 * np.sin(1.3 * t) + jitter[:, 0], 3.0 * np.sin(0.7 * t + 1.0) + jitter[:, 1],
        1.5 * np.sin(0.9 * t) + jitter[:, 2], 4.6e-4 + 8e-6 * np.sin(0.5 * t),
        58.0 + 1.5 * np.sin(0.8 * t), 70.0 + 2.0 * np.sin(0.6 * t), np.full(frames, -66.671)])
    return out.astype(np.float64)


def pose_file(which: str, directory: Path, frames: int = 93) -> Path:
    """A 3DDFA pose file: ``synthetic`` (written into ``directory``) or a ../shared/fixtures/pose file."""
    if which == "synthetic":
        path = directory / f"pose_{frames}.npy"
        np.save(path, pose_3ddfa(frames))
        return path
    return shared_path("fixtures", "pose", which, why="3DDFA's pose output for real clips")


@pytest.fixture(scope="session")
def speech_1s(tmp_path_factory) -> Path:
    """The first second of the sample speech as a WAV (short jobs)."""
    from scipy.io import wavfile

    rate, data = wavfile.read(SAMPLE_SPEECH)
    path = tmp_path_factory.mktemp("audio") / "speech_1s.wav"
    wavfile.write(path, rate, data[:rate])
    return path


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory) -> Path:
    """:func:`sample_face_clip` written once per session (30 frames, 25 fps, 256x256)."""
    return sample_face_clip(tmp_path_factory.mktemp("sample_clip") / "sample_face.mp4")


@pytest.fixture(scope="session")
def sample_face_png(tmp_path_factory) -> Path:
    """:func:`sample_face_rgb` saved as a PNG (a 256 px portrait file for tests that take a path)."""
    from PIL import Image

    path = tmp_path_factory.mktemp("sample_face") / "sample_face.png"
    Image.fromarray(sample_face_rgb()).save(path)
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    return shared_path("fixtures")


@pytest.fixture
def golden() -> object:
    return np.load(shared_path("golden", "eamm_golden_v1.npz"), allow_pickle=False)
