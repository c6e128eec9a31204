"""Reading video frames at the model's 25 fps, by time.

A clip at another rate is resampled by time, never read index by index: output frame ``t`` (time
``t / fps``) takes the source frame whose timestamp ``i / source_fps`` is nearest, i.e.
``i = floor(t * source_fps / fps + 1/2)``. A 30 fps clip therefore skips every sixth frame and a
24 fps clip shows one frame twice per second, and the motion keeps its real speed.

Videos are decoded by the ffmpeg binary of imageio-ffmpeg (RGB24). A folder of images
(PNG/JPEG/WebP/TIFF, sorted by name with numbers in natural order) is taken as a 25 fps sequence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eamm_core.errors import InputError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif"}
MODEL_FPS = 25.0


@dataclass(frozen=True)
class VideoFrames:
    """frames uint8 [T,H,W,3] RGB; source_index int [T] (index in the file of each frame);
    source_fps the file's frame rate."""

    frames: np.ndarray
    source_index: np.ndarray
    source_fps: float


def source_index_for(t: np.ndarray | int, source_fps: float, fps: float = MODEL_FPS) -> np.ndarray:
    """Index of the source frame nearest in time to output frame(s) ``t``."""
    t = np.asarray(t, np.float64)
    return np.floor(t * (source_fps / fps) + 0.5 + 1e-9).astype(np.int64)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def image_folder_files(folder: Path) -> list[Path]:
    from eamm_core.prepare.image_io import IMAGE_SUFFIXES

    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: _natural_key(p.name))


def _iter_folder(folder: Path, fps: float, max_frames: int | None) -> Iterator[tuple[int, np.ndarray]]:
    from eamm_core.prepare.image_io import read_image

    files = image_folder_files(folder)
    if not files:
        raise InputError(folder, "no images in the folder", "put the frames in as PNG or JPEG files")
    wanted = source_index_for(np.arange(_count(len(files), MODEL_FPS, fps, max_frames)), MODEL_FPS, fps)
    for index in wanted:
        rgb, _ = read_image(files[int(index)])
        yield int(index), rgb


def _count(num_source: int, source_fps: float, fps: float, max_frames: int | None) -> int:
    """Output frames that fall inside a clip of ``num_source`` frames."""
    n = int(np.floor((num_source - 0.5) * fps / source_fps - 1e-9)) + 1 if num_source > 0 else 0
    while n > 0 and int(source_index_for(n - 1, source_fps, fps)) >= num_source:
        n -= 1
    return n if max_frames is None else min(n, int(max_frames))


def _open_video(path: Path):
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as exc:
        gen.close()
        text = str(exc).lower()
        if "does not contain any stream" in text or "no video" in text:
            raise InputError(path, "no video stream (is it an audio file?)",
                             "use a video (MP4, MOV, AVI, MKV) or a folder of images") from None
        raise InputError(path, "not a video, or it is damaged",
                         "use a video (MP4, MOV, AVI, MKV) or a folder of images") from None
    return gen, meta


def _iter_video(path: Path, fps: float, max_frames: int | None) -> Iterator[tuple[int, np.ndarray]]:
    gen, meta = _open_video(path)
    w, h = meta["size"]
    src_fps = float(meta.get("fps") or MODEL_FPS)
    t = 0
    try:
        for i, raw in enumerate(gen):
            frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
            while max_frames is None or t < max_frames:
                if int(source_index_for(t, src_fps, fps)) != i:
                    break
                yield i, frame
                t += 1
            if max_frames is not None and t >= max_frames:
                break
    except (OSError, RuntimeError) as exc:
        if t == 0:
            raise InputError(path, f"unreadable or truncated video ({str(exc).splitlines()[0][:120]})",
                             "re-export the clip as H.264 MP4") from None
        log.warning("%s: decoding stopped after %d frames (%s)", path.name, t, str(exc).splitlines()[0])
    finally:
        gen.close()


def probe_fps(path: str | Path) -> float:
    """The clip's frame rate (25 for a folder of images)."""
    path = Path(path)
    if path.is_dir():
        return MODEL_FPS
    gen, meta = _open_video(path)
    gen.close()
    return float(meta.get("fps") or MODEL_FPS)


def iter_frames(path: str | Path, fps: float = MODEL_FPS, max_frames: int | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(source_index, rgb uint8 [H,W,3])`` for each output frame at ``fps``, by time."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found", "check the path")
    if path.is_dir():
        return _iter_folder(path, fps, max_frames)
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty", "use a video (MP4, MOV, AVI, MKV) or a folder of images")
    return _iter_video(path, fps, max_frames)


def read_frames(path: str | Path, fps: float = MODEL_FPS, max_frames: int | None = None) -> VideoFrames:
    """All output frames at ``fps`` (resampled by time), see the module docstring."""
    path = Path(path)
    src_fps = probe_fps(path)
    indices, frames = [], []
    for index, frame in iter_frames(path, fps, max_frames):
        indices.append(index)
        frames.append(frame)
    if not frames:
        raise InputError(path, "no frames could be read", "re-export the clip as H.264 MP4")
    return VideoFrames(frames=np.stack(frames), source_index=np.asarray(indices, np.int64), source_fps=src_fps)
