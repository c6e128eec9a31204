"""Where a job's rendered frames go: the frame sink of :mod:`eamm_core.pipeline`.

A :class:`FrameSink` takes the engine's frames in order and, on one background writer thread,
writes each as a PNG (``frames/``), its paste-back into the full portrait (``pasted/``) and, on a
full render, feeds the MP4 stream encoding while the next frames render. It reports progress (frames on disk) and checks
for cancellation after each frame; the pipeline keeps resume, the final MP4 and the manifest.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eamm_core.errors import EammError, folder_error
from eamm_core.output import BackgroundWriter, FrameWriter, Mp4Stream
from eamm_core.types import PortraitCrop

log = logging.getLogger(__name__)


class FrameSink:
    """The frame folders, the frame range and the MP4 stream of one render (see the module docstring).

    ``report(stage, done, total, message)`` gets progress and ``cancelled()`` says whether to stop.
    """

    def __init__(self, out_dir: Path, frames: FrameWriter, pasted: FrameWriter | None, frame_range: tuple[int, int],
                 report: Callable[[str, int, int, str], None], cancelled: Callable[[], bool]):
        self.out_dir = out_dir
        self.frames = frames
        self.pasted = pasted
        self.range = frame_range
        self.report = report
        self.cancelled = cancelled
        self.stream: Mp4Stream | None = None

    def drop_stream(self) -> None:
        if self.stream is not None:
            self.stream.abort()
            self.stream = None

    def take_stream(self) -> Mp4Stream | None:
        """The MP4 stream still open after the render (None: none), now the caller's to close or abort."""
        stream, self.stream = self.stream, None
        return stream

    def consume(self, frames, crop: PortraitCrop, written: list[int], total: int) -> None:
        """Write the engine's ``frames`` ((index, RGB) in order) until they end or the job is cancelled;
        ``written[0]`` counts the frames on disk (of ``total``), starting from those already there."""
        frames = iter(frames)
        writer = BackgroundWriter(max_pending=4)
        reported = written[0]
        try:
            for index, rgb in frames:
                writer.submit(self.write, crop, index, rgb, written)
                done = written[0]  # advanced by the writer thread as frames reach the disk
                if done != reported:
                    reported = done
                    self.report("render", done, total, f"frame {index}")
                if self.cancelled():
                    break
        finally:
            try:
                writer.close()  # every frame rendered so far is on disk before we go on (or fail)
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    close()

    def write(self, crop: PortraitCrop, index: int, rgb: np.ndarray, written: list[int]) -> None:
        """Runs on the writer thread, in frame order: the PNG, the pasted PNG, the MP4 stream. A
        file that cannot be written (disk full, folder gone) fails the job with a message saying
        where; the frames before it stay."""
        try:
            self.frames.write(index, rgb)
            if self.pasted is not None:
                from eamm_core.render.paste_back import paste_back

                rgb = paste_back(crop, rgb)
                self.pasted.write(index, rgb)
        except OSError as exc:
            raise folder_error(self.out_dir, exc, f"write frame {index}", kept=True) from None
        written[0] += 1
        if self.stream is not None and index != self.range[0] + self.stream.frames:
            log.debug("frames arrive out of order; the MP4 will be made from the PNGs")
            self.drop_stream()
        if self.stream is not None:
            try:
                self.stream.write(rgb)
            except EammError as exc:  # the PNGs are on disk: encode from them at the end instead
                log.warning("encoding while rendering failed (%s); the MP4 will be made from the PNGs", exc)
                self.drop_stream()


@contextlib.contextmanager
def opencv_threads(count: int | None):
    """OpenCV's own worker threads set to ``count`` for a block (None: unchanged). On a 2-core
    machine the render, the PNG writer thread and ffmpeg already fill both cores, and OpenCV
    splitting each remap and blur over both as well only adds waiting (measured on the 2-core
    sandbox: a strength-only rerun takes the same wall time or a little less, with 2-10 % less CPU)."""
    if count is None:
        yield
        return
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)
