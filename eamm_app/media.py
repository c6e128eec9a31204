"""Local media helpers for display only (run them off the UI thread): the audio envelope drawn
under the curve editor, and PNG sequences from a job's ``frames.zip``."""

from __future__ import annotations

import array
import logging
import subprocess
import sys
import wave
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)
ENVELOPE_RATE = 4000  # samples per second decoded for the envelope: plenty for a picture


def _wav_samples(path: Path) -> tuple[list[float], int] | None:
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                return None
            rate, channels = w.getframerate(), w.getnchannels()
            data = array.array("h", w.readframes(w.getnframes()))
    except (wave.Error, EOFError, OSError):
        return None
    if sys.byteorder == "big":
        data.byteswap()
    mono = data[::channels] if channels > 1 else data
    return [s / 32768.0 for s in mono], rate


def _ffmpeg_samples(path: Path) -> tuple[list[float], int] | None:
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None
    cmd = [exe, "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(ENVELOPE_RATE), "-f", "s16le", "-"]
    try:
        raw = subprocess.run(cmd, capture_output=True, timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    data = array.array("h")
    data.frombytes(raw[: len(raw) // 2 * 2])
    if sys.byteorder == "big":
        data.byteswap()
    return [s / 32768.0 for s in data], ENVELOPE_RATE


def audio_envelope(path: Path, fps: int = 100) -> list[float]:
    """Peak amplitude (0..1) per 1/``fps`` s of an audio file; empty when it cannot be decoded."""
    decoded = _wav_samples(Path(path)) or _ffmpeg_samples(Path(path))
    if decoded is None:
        log.info("no envelope for %s (not decodable here)", path)
        return []
    samples, rate = decoded
    step = max(1, rate // fps)
    return [max((abs(s) for s in samples[i:i + step]), default=0.0) for i in range(0, len(samples), step)]


def video_thumbnail(path: Path) -> bytes | None:
    """The first video frame of ``path`` as PNG bytes (ffmpeg from imageio-ffmpeg), or None."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None
    cmd = [exe, "-v", "error", "-i", str(path), "-frames:v", "1", "-vf", "scale=192:-2", "-f", "image2pipe",
           "-vcodec", "png", "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def extract_frames_zip(zip_path: Path, folder: Path) -> list[Path]:
    """Extract the ``frame_%06d.png`` members of a job's zip into ``folder``; returns them sorted."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            base = Path(name).name  # never trust member paths
            if base.startswith("frame_") and base.endswith(".png"):
                target = folder / base
                target.write_bytes(z.read(name))
                out.append(target)
    return sorted(out)


def frame_index(path: Path) -> int:
    """The absolute frame index in ``frame_000012.png``."""
    return int(Path(path).stem.split("_")[-1])
