"""Where a job's rendered frames go: the frame sink of :mod:`eamm_core.pipeline`.

A :class:`FrameSink` takes the engine's frames in order and, on a background writer (a thread, or a
forked process where that is safe: :mod:`eamm_core.writer_process`), writes each as a PNG
(``frames/``), its paste-back into the full portrait (``pasted/``) and, on a full render, feeds the
MP4 stream encoding while the next frames render. It reports progress (frames on disk) and checks
for cancellation after each frame; the pipeline keeps resume, the final MP4 and the manifest.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eamm_core import writer_process
from eamm_core.errors import EammError, folder_error
from eamm_core.output import BackgroundWriter, FrameWriter, Mp4Stream, png_encoder_is_fast
from eamm_core.types import PortraitCrop

log = logging.getLogger(__name__)


class FrameSink:
    """The frame folders, the frame range and the MP4 stream of one render (see the module docstring).

    ``report(stage, done, total, message)`` gets progress, ``cancelled()`` says whether to stop, and
    ``timings`` (the job's) receives ``encode`` when the writer process finished the MP4.
    """

    def __init__(self, out_dir: Path, frames: FrameWriter, pasted: FrameWriter | None, frame_range: tuple[int, int],
                 report: Callable[[str, int, int, str], None], cancelled: Callable[[], bool],
                 timings: dict[str, float]):
        self.out_dir = out_dir
        self.frames = frames
        self.pasted = pasted
        self.range = frame_range
        self.report = report
        self.cancelled = cancelled
        self.timings = timings
        self.stream: Mp4Stream | None = None
        self.mp4_done = False  # the writer process finished the MP4 with every frame

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
        try:
            first = next(frames, None)
            if first is None:
                return
            writer = self._start_writer_process(crop, first[1].shape)
            if writer is not None:
                self._render_to_process(writer, first, frames, written, total)
            else:
                self._render_to_thread(first, frames, crop, written, total)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def _render_to_thread(self, first, frames, crop: PortraitCrop, written: list[int], total: int) -> None:
        writer = BackgroundWriter(max_pending=4)
        reported = written[0]
        try:
            for index, rgb in itertools.chain([first], frames):
                writer.submit(self.write, crop, index, rgb, written)
                done = written[0]  # advanced by the writer thread as frames reach the disk
                if done != reported:
                    reported = done
                    self.report("render", done, total, f"frame {index}")
                if self.cancelled():
                    break
        finally:
            writer.close()  # every frame rendered so far is on disk before we go on (or fail)

    def _start_writer_process(self, crop: PortraitCrop, shape) -> writer_process.WriterProcess | None:
        """A forked child that writes the frames (eamm_core.writer_process) where that is safe and
        the child needs no OpenCV (no paste-back; PNGs deflated by ISA-L); None: use the thread."""
        if self.pasted is not None or not writer_process.usable() or not png_encoder_is_fast():
            return None  # (the old frames' deletion thread, if still running, is marked fork-safe)
        written = [0]  # the child's own count
        try:
            return writer_process.WriterProcess(write=lambda index, rgb: self.write(crop, index, rgb, written),
                                                finish=self.finish_stream, abort=self.drop_stream, shape=shape)
        except OSError as exc:  # no fork (process limit, memory): the thread does the same work
            log.info("frame writer process not started (%s); writing frames on a thread", exc)
            return None

    def _render_to_process(self, writer, first, frames, written: list[int], total: int) -> None:
        """The render loop with a :class:`WriterProcess`: it writes the PNGs and feeds the MP4
        stream, which it also finishes (or aborts) at the end; the parent never opens the stream."""
        base = reported = written[0]
        cancelled = False
        try:
            for index, rgb in itertools.chain([first], frames):
                writer.submit(index, rgb)
                done = base + writer.poll()
                if done != reported:
                    reported = done
                    self.report("render", done, total, f"frame {index}")
                if self.cancelled():
                    cancelled = True
                    break
        except BaseException:
            try:  # the frames handed over so far are written; the error that stopped the render is the one raised
                writer.close(abort=True)
            except EammError as exc:
                log.warning("the frame writer also failed: %s", exc)
            finally:
                self._after_writer(writer, base, written)
            raise
        t0 = time.perf_counter()
        try:
            self.mp4_done = writer.close(abort=cancelled)  # every frame rendered so far is on disk
        finally:
            self._after_writer(writer, base, written)
        if self.mp4_done:
            self.timings["encode"] = time.perf_counter() - t0  # the wait for the child to finish the MP4

    def _after_writer(self, writer, base: int, written: list[int]) -> None:
        writer.kill()  # no-op once the child has ended
        written[0] = base + writer.done
        self.stream = None  # opened, fed and closed (or dropped) in the child

    def finish_stream(self) -> bool:
        """In the writer process: finish the MP4 if every frame went into it (True), else drop it
        (False: the parent encodes it from the PNGs)."""
        stream, self.stream = self.stream, None
        if stream is None:
            return False
        if stream.frames != self.range[1] - self.range[0]:
            stream.abort()
            return False
        try:
            stream.close()
        except EammError as exc:
            log.warning("finishing the MP4 failed (%s); it will be made from the PNGs", exc)
            return False
        return True

    def write(self, crop: PortraitCrop, index: int, rgb: np.ndarray, written: list[int]) -> None:
        """Runs on the writer thread or in the writer process, in frame order: the PNG, the pasted
        PNG, the MP4 stream. A file that cannot be written (disk full, folder gone) fails the job
        with a message saying where; the frames before it stay."""
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
    """OpenCV's own worker threads set to ``count`` for a block (None: unchanged). On a machine
    with 2 cores or fewer the render, the PNG writer thread and ffmpeg already fill them, and OpenCV
    splitting each remap and blur over them as well only adds waiting (docs/benchmarks.md,
    landmark_speed)."""
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
