"""Output of a job: numbered PNG frames written as they are made, the MP4 with the audio muxed,
and ``manifest.json`` (docs/architecture.md, "One job").

Every file is written under a temporary name in the same folder and renamed into place, so a frame
or manifest that has its final name is complete; a crash never leaves a truncated file behind a
valid name (and :func:`png_is_complete` re-checks anyway on resume).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from eamm_core import MODEL_FPS, __version__
from eamm_core.errors import EammError
from eamm_core.ffmpeg import ffmpeg_exe

log = logging.getLogger(__name__)

FRAME_PATTERN = "frame_%06d.png"
_FRAME_RE = re.compile(r"^frame_(\d{6,})\.png$")
_PARTIAL_RE = re.compile(r"^\.frame_\d{6,}\.png\..*\.part$")
#: name prefix of frame folders set aside for deletion (see :meth:`FrameWriter.discard_all`)
DISCARDED_PREFIX = ".discarded-"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def png_is_complete(path: Path) -> bool:
    """True when ``path`` starts with the PNG signature and ends with the IEND chunk."""
    try:
        size = path.stat().st_size
        if size < len(_PNG_SIGNATURE) + len(_PNG_IEND):
            return False
        with open(path, "rb") as fh:
            head = fh.read(len(_PNG_SIGNATURE))
            fh.seek(size - len(_PNG_IEND))
            tail = fh.read()
        return head == _PNG_SIGNATURE and tail == _PNG_IEND
    except OSError:
        return False


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB uint8 [H,W,3] -> PNG bytes (lossless, fast compression: frames are intermediate files).

    Written here (signature, IHDR, one IDAT, IEND) with every row filtered "Up" (the difference
    to the row above, one numpy subtraction) and deflated by ISA-L (``isal``, level 1): several times
    faster than OpenCV's libpng/zlib encoder (Average filter, Huffman-only) for slightly larger files
    (figures: docs/benchmarks.md, landmark_speed). Without ``isal`` installed, or for other
    shapes, OpenCV encodes (see :func:`_encode_png_cv2`). Both decode to the same pixels."""
    rgb = np.ascontiguousarray(rgb)
    isal_zlib = _isal_zlib()
    if isal_zlib is None or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        return _encode_png_cv2(rgb)
    h, w = rgb.shape[:2]
    flat = rgb.reshape(h, w * 3)
    rows = np.empty((h, w * 3 + 1), np.uint8)
    rows[:, 0] = 2  # filter type "Up"; the first row's "above" is zeros
    rows[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no interlace
    return b"".join((_PNG_SIGNATURE, _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", isal_zlib.compress(rows.data, 1)), _png_chunk(b"IEND", b"")))


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(tag)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def _isal_zlib():
    """ISA-L's zlib-compatible module, or None where ``isal`` is not installed."""
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


def _encode_png_cv2(image: np.ndarray) -> bytes:
    """RGB (or grey) -> PNG with OpenCV: one fixed row filter (Average) instead of libpng's
    adaptive choice, which tries all five on every row (much less CPU for slightly larger files)."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV >= 4.12; older ones keep libpng's adaptive filter
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG]
    image = np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image, params)
    if not ok:
        raise EammError("could not encode a frame as PNG")
    return buf.tobytes()


def read_png(path: Path) -> np.ndarray:
    """A frame written by :class:`FrameWriter` -> RGB uint8 [H,W,3]."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise EammError(f"frame {path} is unreadable")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FrameWriter:
    """``frame_%06d.png`` files in one folder, numbered by absolute 25 fps frame index."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, index: int) -> Path:
        return self.folder / (FRAME_PATTERN % index)

    def write(self, index: int, rgb: np.ndarray) -> Path:
        path = self.path(index)
        atomic_write_bytes(path, encode_png(rgb))
        return path

    def indices_on_disk(self) -> list[int]:
        found = (_FRAME_RE.match(p.name) for p in self.folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def complete(self, indices: Iterable[int]) -> set[int]:
        """The subset of ``indices`` whose PNG exists and is complete."""
        return {i for i in indices if png_is_complete(self.path(i))}

    def remove(self, indices: Iterable[int]) -> int:
        count = 0
        for i in indices:
            self.path(i).unlink(missing_ok=True)
            count += 1
        return count

    def clear_partials(self) -> None:
        """Remove temporary files a killed run left behind."""
        for p in self.folder.glob(".frame_*.part"):
            p.unlink(missing_ok=True)

    def discard_all(self) -> threading.Thread | None:
        """Remove every frame and partial file, leaving the folder empty, without waiting for the
        file system to delete them: the folder is renamed aside (one atomic step, after which it
        holds none of the old frames), an empty one takes its place and the old one is deleted on
        a background thread, returned for joining (None when nothing is left to delete). A folder
        holding anything but frames, or one that cannot be renamed (Windows, while another program
        has it open), has its frames removed one by one instead and its other files kept."""
        names = os.listdir(self.folder)
        if not names:
            return None
        if all(_FRAME_RE.match(n) or _PARTIAL_RE.match(n) for n in names):
            aside = self.folder.with_name(f"{DISCARDED_PREFIX}{self.folder.name}-{os.getpid()}-{time.monotonic_ns()}")
            try:
                os.rename(self.folder, aside)
            except OSError:
                pass
            else:
                self.folder.mkdir()
                return _delete_in_background([aside])
        self.clear_partials()
        self.remove(self.indices_on_disk())
        return None


def discard_leftovers(folder: Path) -> threading.Thread | None:
    """Delete, on a background thread, the folders :meth:`FrameWriter.discard_all` set aside in
    ``folder`` that a killed process did not finish deleting."""
    leftovers = [p for p in Path(folder).glob(f"{DISCARDED_PREFIX}*") if p.is_dir()]
    return _delete_in_background(leftovers) if leftovers else None


def _delete_in_background(folders: list[Path]) -> threading.Thread:
    def work() -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    thread = threading.Thread(target=work, name="eamm-discard", daemon=True)
    thread.start()
    return thread


class BackgroundWriter:
    """Runs frame writes (PNG encoding, paste-back) on one worker thread, in submission order, so
    the render of the next frame overlaps them; at most ``max_pending`` frames wait in memory.
    An error in a write is raised by the next :meth:`submit` or by :meth:`close`."""

    def __init__(self, max_pending: int = 8):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eamm-writer")
        self._pending: list = []
        self.max_pending = max_pending

    def submit(self, fn, *args) -> None:
        self._pending.append(self._pool.submit(fn, *args))
        while len(self._pending) > self.max_pending or (self._pending and self._pending[0].done()):
            self._pending.pop(0).result()

    def close(self) -> None:
        """Wait for every submitted write; re-raise the first error."""
        try:
            while self._pending:
                self._pending.pop(0).result()
        finally:
            self._pool.shutdown(wait=True)


def _audio_args(audio_path: Path | None, fps: float, start: int, count: int | None) -> list[str]:
    """Seek the audio to the first frame's time; pad with silence and cut to the frames' length.
    AAC at 160 kb/s with ffmpeg's fast coder: half the CPU of its default (two-loop search), which at
    this rate makes no audible difference to speech (the MP4 is the preview; Blender's strip and the
    manifest keep the user's own audio file)."""
    if audio_path is None:
        return []
    afilter = "apad" + (f",atrim=duration={count / fps:.6f}" if count is not None else "")
    return ["-ss", f"{start / fps:.6f}", "-i", str(audio_path), "-map", "0:v:0", "-map", "1:a:0",
            "-af", afilter, "-c:a", "aac", "-aac_coder", "fast", "-b:a", "160k", "-shortest"]


#: frames up to this many pixels are encoded on one x264 thread while they are rendered: one thread
#: keeps up several times over and spends less CPU than x264's frame threads, CPU the renderer beside
#: it then has (figures: docs/benchmarks.md, landmark_speed)
ONE_THREAD_PIXELS = 512 * 512


def x264_threads(width: int, height: int) -> list[str]:
    """ffmpeg options for x264's threads when encoding beside the renderer (see :data:`ONE_THREAD_PIXELS`)."""
    return ["-threads", "1"] if width * height <= ONE_THREAD_PIXELS else []


#: x264's "superfast" preset with its macroblock-tree rate control (and the 10-frame lookahead it
#: needs) put back: less encoder CPU than "veryfast" for about the same PSNR and a somewhat larger
#: file; plain "superfast" (no mb-tree) makes files far larger (figures: docs/benchmarks.md, landmark_speed)
X264_SETTINGS = ["-c:v", "libx264", "-preset", "superfast", "-x264-params", "mbtree=1:rc-lookahead=10"]


def _video_args(fps: float, count: int | None, crf: int, tmp: Path, threads: list[str] = ()) -> list[str]:
    frames = ["-frames:v", str(count)] if count is not None else []
    return frames + list(threads) + ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", *X264_SETTINGS,
                     "-crf", str(crf), "-pix_fmt", "yuv420p", "-r", f"{fps:g}", "-movflags", "+faststart",
                     "-f", "mp4", str(tmp)]


def _partial_name(out_path: Path) -> Path:
    return out_path.with_name(f".{out_path.stem}.part.mp4")


def _ffmpeg_failed(out_path: Path, stderr: str, frames_dir: Path | None) -> EammError:
    last = (stderr.strip().splitlines() or ["no message"])[-1]
    kept = f"; the PNG frames are kept in {frames_dir}" if frames_dir else ""
    return EammError(f"could not encode {out_path.name} with ffmpeg ({last}){kept}")


def encode_mp4(
    frames_dir: Path,
    audio_path: Path | None,
    out_path: Path,
    fps: float = MODEL_FPS,
    start: int = 0,
    count: int | None = None,
    *,
    crf: int = 18,
) -> Path:
    """Encode ``frames_dir/frame_%06d.png`` (from frame ``start``, ``count`` frames) to an H.264
    yuv420p MP4 with the audio muxed as AAC from ``start / fps`` seconds; odd sizes are padded to even.

    The audio is padded with silence if shorter than the frames and cut to the frames' duration.
    Written to a temporary name and renamed.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial_name(out_path)
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-framerate", f"{fps:g}", "-start_number", str(start), "-i", str(Path(frames_dir) / FRAME_PATTERN)]
    args += _audio_args(audio_path, fps, start, count) + _video_args(fps, count, crf, tmp)
    log.debug("ffmpeg: %s", args)
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise _ffmpeg_failed(out_path, proc.stderr, Path(frames_dir))
    os.replace(tmp, out_path)
    return out_path


class Mp4Stream:
    """Encode frames to an MP4 while they are made (raw RGB piped to ffmpeg, which runs beside the
    render). Same output as :func:`encode_mp4`; :meth:`close` renames it into place, :meth:`abort`
    discards it. Frames must all have the size of the first one."""

    def __init__(self, audio_path: Path | None, out_path: Path, fps: float = MODEL_FPS, start: int = 0,
                 count: int | None = None, *, crf: int = 18):
        self.out_path = Path(out_path)
        self.settings = (audio_path, fps, start, count, crf)
        self.proc: subprocess.Popen | None = None
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._err = None

    def _open(self, width: int, height: int) -> None:
        audio_path, fps, start, count, crf = self.settings
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                "-s", f"{width}x{height}", "-framerate", f"{fps:g}", "-i", "pipe:0"]
        args += _audio_args(audio_path, fps, start, count) + _video_args(
            fps, count, crf, _partial_name(self.out_path), x264_threads(width, height))
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err)
        self.size = (width, height)

    def write(self, rgb: np.ndarray) -> None:
        if self.proc is None:
            self._open(rgb.shape[1], rgb.shape[0])
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise EammError(f"frame size {rgb.shape[1]}x{rgb.shape[0]} differs from {self.size[0]}x{self.size[1]}")
        try:
            self.proc.stdin.write(np.ascontiguousarray(rgb, np.uint8).data)  # no copy
        except BrokenPipeError:
            raise self._failure() from None
        self.frames += 1

    def _failure(self) -> EammError:
        self.proc.wait()
        self._err.seek(0)
        error = _ffmpeg_failed(self.out_path, self._err.read().decode("utf-8", "replace"), None)
        self.abort()
        return error

    def close(self) -> Path:
        """Finish the file (all frames written) and rename it into place."""
        if self.proc is None:
            raise EammError(f"no frames were written to {self.out_path.name}")
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        if self.proc.wait() != 0:
            raise self._failure()
        os.replace(_partial_name(self.out_path), self.out_path)
        self._err.close()
        return self.out_path

    def abort(self) -> None:
        """Stop ffmpeg and remove the partial file (frames on disk are untouched)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            try:
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        _partial_name(self.out_path).unlink(missing_ok=True)
        if self._err is not None:
            self._err.close()
            self._err = None


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a video file."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    has_audio: bool
    audio_codec: str | None
    frames: int
    duration_s: float


def probe_video(path: Path) -> VideoInfo:
    """Codec, pixel format, size, fps, audio and frame count of a video (via ``ffmpeg -i``)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
                           "-c", "copy", "-f", "null", "-"], capture_output=True, text=True)
    err = proc.stderr
    video = re.search(r"Stream #\S+.*?: Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+).*?, ([\d.]+) fps", err)
    if proc.returncode != 0 or video is None:
        raise EammError(f"{path} is not a readable video")
    audio = re.search(r"Stream #\S+.*?: Audio: (\w+)", err)
    frames = re.findall(r"frame=\s*(\d+)", err)
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    return VideoInfo(video.group(1), video.group(2), int(video.group(3)), int(video.group(4)),
                     float(video.group(5)), audio is not None, audio.group(1) if audio else None,
                     int(frames[-1]) if frames else 0, duration)


def write_manifest(path: Path, data: dict) -> Path:
    """Write the manifest as indented JSON, atomically; where the folder no longer takes new files
    (turned read-only, full) an existing manifest is rewritten in place, so a failure is recorded."""
    payload = (json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8")
    try:
        atomic_write_bytes(Path(path), payload)
    except OSError:
        if not Path(path).is_file():
            raise
        try:
            with open(path, "r+b") as fh:
                fh.write(payload)
                fh.truncate()
        except OSError:
            pass
        else:
            return Path(path)
        raise
    return Path(path)


def read_manifest(path: Path) -> dict | None:
    """The manifest at ``path``, or None when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


#: distributions whose versions the manifest records (the packages that shape the frames)
RECORDED_DISTRIBUTIONS = ("numpy", "opencv-python-headless", "scipy", "torch", "dlib-bin", "pocketsphinx",
                          "imageio-ffmpeg", "mediapipe")
_DIST_INFO_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)\.dist-info$")


def _normalise(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503: case, ``-``, ``_`` and ``.`` alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions(names: Iterable[str], paths: Iterable[str] | None = None) -> dict[str, str]:
    """Versions of the distributions ``names`` found on ``paths`` (default ``sys.path``), read from
    their ``NAME-VERSION.dist-info`` folder names, the first found on the path winning, as for imports.

    The same answer as ``importlib.metadata.version`` for installed wheels, from one directory
    listing per path entry: importing ``importlib.metadata`` and asking it costs
    a noticeable part of a short run's start-up."""
    wanted = {_normalise(n): n for n in names}
    found: dict[str, str] = {}
    for entry in sys.path if paths is None else paths:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            m = _DIST_INFO_RE.match(item)
            if m is None:
                continue
            name = wanted.get(_normalise(m.group("name")))
            if name is not None and name not in found:
                found[name] = m.group("version")
        if len(found) == len(wanted):
            break
    return {n: found[n] for n in wanted.values() if n in found}


def versions() -> dict[str, str]:
    """Versions recorded in the manifest (packages that shape the frames)."""
    out = {"eamm": __version__, "python": platform.python_version()}
    out.update(installed_versions(RECORDED_DISTRIBUTIONS))
    return out
