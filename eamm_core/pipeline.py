"""One job from the artist's files to frames, MP4 and manifest (docs/architecture.md, "One job").

``run_job`` runs any :class:`~eamm_core.engines.base.Engine` through

prepare (crop, audio) → motion (kp_s, kp_a) → emotion (Δ) → combine with α → render → paste-back →
encode → manifest,

with every stage before the combination cached by content hash (:mod:`eamm_core.cache`): changing
only the strength re-runs only the combination and the render. Frames are PNGs written as they are
made (``frames/frame_%06d.png``, absolute 25 fps index); a killed or cancelled job resumes from the
frames on disk when run again with the same inputs and parameters (the *job key* in the manifest).

The stages before the render live in :mod:`eamm_core.stages` (``CachedStages``), the writing of the
rendered frames and the MP4 stream in :mod:`eamm_core.frame_sink`; this module keeps the job's
driver: validation order, the folder lock, resume, the final MP4 and the manifest.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from eamm_core import MODEL_FPS, folder_lock
from eamm_core.cache import Cache, canonical_key, code_fingerprint, default_cache_dir
from eamm_core.cancel import cancel_scope
from eamm_core.curves import strength_per_frame
from eamm_core.engines.base import Engine, EngineOptions, get_engine
from eamm_core.errors import CancelledError, EammError, InputError, folder_error
from eamm_core.frame_sink import FrameSink, opencv_threads
from eamm_core.job import JobResult, JobSpec, Progress, ProgressCallback
from eamm_core.manifest import MANIFEST, start_record
from eamm_core.output import (
    FrameWriter,
    Mp4Stream,
    discard_leftovers,
    encode_mp4,
    read_manifest,
    read_png,
    write_manifest,
)
from eamm_core.render.frame_size import FrameSize, resolve_size
from eamm_core.stages import RENDER_CODE, CachedStages, Motion, StageKeys
from eamm_core.types import PortraitCrop

log = logging.getLogger(__name__)

MP4_NAME = "result.mp4"


def engine_options(spec: JobSpec) -> EngineOptions:
    """The engine options a job spec implies."""
    return EngineOptions(seed=spec.seed, blink=spec.blink, idle_motion=spec.idle_motion,
                         transcript=spec.transcript, model_dir=spec.model_dir, device=spec.device,
                         precision=spec.precision, size=str(spec.size))


def run_job(
    spec: JobSpec,
    out_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache_dir: Path | None = None,
    resume: bool = True,
    engine: Engine | None = None,
    use_cache: bool = True,
    wait: bool = False,
) -> JobResult:
    """Run ``spec`` into ``out_dir`` (layout in docs/cli.md) and return what was written.

    ``cache_dir`` defaults to ``$EAMM_CACHE`` or ``~/.cache/eamm`` (``use_cache=False``: none).
    ``cancel`` is checked between stages and after every frame: the job stops, keeps its frames and
    returns a result with ``cancelled=True``. ``resume=False`` re-renders every frame. ``engine``
    overrides the engine named by ``spec.engine`` (an already built one, e.g. a
    test's engine; the job's options are set on it).
    Raises :class:`EammError` (one line) for bad input; the manifest then records the failure and
    no frame already written is removed. The folder is held for the job's key while it runs
    (:mod:`eamm_core.folder_lock`): another job there raises, or is waited for with ``wait=True``.
    """
    root = (cache_dir or default_cache_dir()) if use_cache else None
    runner = _JobRunner(spec, Path(out_dir), Cache(root), progress, cancel or threading.Event(), engine)
    runner.wait = wait
    return runner.run(resume)


class _JobRunner(CachedStages):
    def __init__(self, spec, out_dir, cache, progress, cancel, engine):
        self.spec: JobSpec = spec
        self.out_dir: Path = out_dir
        self.cache: Cache = cache
        self.progress_cb = progress
        self.cancel: threading.Event = cancel
        self.engine: Engine | None = engine
        self.keys = StageKeys()
        self.cached: list[str] = []
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        self.manifest: dict = {}
        self.frames: FrameWriter | None = None  # made (with the folders) once every input is valid
        self.pasted: FrameWriter | None = None
        self._pose_track = None  # inputs read while validating, before the folder is touched
        self._emotion_inputs = None
        self.range = (0, 0)
        self.sink: FrameSink | None = None  # the render's frames and MP4 stream (eamm_core.frame_sink)
        self.mp4_done = False  # the folder already holds this job's finished MP4
        self.emotion_reference: str | None = None
        self.done_count: int | None = None  # complete frames, once the job has finished writing them
        self._deleting: list[threading.Thread | None] = []  # old frames being deleted (FrameWriter.discard_all)
        self.wait = False  # wait for another job holding the folder instead of failing
        self.lock: folder_lock.FolderLock | None = None
        self.frame_size: FrameSize | None = None

    # --- driver -----------------------------------------------------------------------------

    def run(self, resume: bool) -> JobResult:
        try:
            with cancel_scope(self.cancel):
                return self._run(resume)
        except CancelledError:  # raised between chunks of a long stage (eamm_core.cancel)
            self._drop_stream()
            self._finish_manifest("cancelled")
            return self._result(cancelled=True)
        except EammError as exc:
            try:
                self._finish_manifest("failed", error=str(exc))
            except EammError as also:  # the folder cannot take the manifest either: the first error is the one
                log.debug("manifest not updated: %s", also)
            raise
        finally:
            self._drop_stream()
            self._join_deleting()
            if self.lock is not None:
                self.lock.release()
                self.lock = None

    def _drop_stream(self) -> None:
        if self.sink is not None:
            self.sink.drop_stream()

    def _run(self, resume: bool) -> JobResult:
        t0 = time.perf_counter()
        self._report("prepare", 0, 3, "reading the portrait and the audio")
        crop = self._stage_crop()
        audio = self._stage_audio()
        num_frames = audio.num_frames
        self.range = self._frame_range(num_frames)
        alpha = strength_per_frame(self.spec.strength, num_frames)
        if self.engine is None:
            self.engine = get_engine(self.spec.engine, engine_options(self.spec))
        else:  # an engine given by the caller runs with this job's options
            self.engine.options = engine_options(self.spec)
        self._resolve_frame_size(crop)
        self._compute_keys(num_frames, alpha)
        self._read_stage_inputs(num_frames)
        self.timings["prepare"] = time.perf_counter() - t0
        self._open_out_dir()
        self.lock = folder_lock.acquire(self.out_dir, self.keys.job, wait=self.wait)
        todo = self._resume_plan(resume, crop)
        self._start_manifest(num_frames, alpha)
        if todo and not self._cancelled():
            motion = self._stage_motion(crop, audio, alpha)
            if not self._cancelled():
                self._render(motion, todo)
        if self._cancelled():
            self._drop_stream()
            self._finish_manifest("cancelled")
            return self._result(cancelled=True)
        mp4 = self._encode()
        self.done_count = self._count_done()  # nothing writes frames any more: count them once
        self._finish_manifest("done", mp4=mp4)
        self._report("done", self._count_done(), self.range[1] - self.range[0], "finished")
        return self._result(mp4=mp4)

    def _resolve_frame_size(self, crop: PortraitCrop) -> None:
        """The frames' size (``spec.size`` for this crop and engine); its note becomes a warning."""
        self.frame_size = resolve_size(self.spec.size, crop.source_from_crop, self.engine.native_size)
        if self.frame_size.note:
            log.info("frame size: %s", self.frame_size.note)
            self.warnings.append(self.frame_size.note)

    def _read_stage_inputs(self, num_frames: int) -> None:
        """Read (and so validate) the pose and the emotion clip now, unless their stage is cached:
        a bad input then fails before the output folder is touched (docs/cli.md)."""
        if self.cache.get("motion", self.keys.motion) is None:
            self._pose_track = self._load_pose(num_frames)
        if self.keys.emotion is not None and self.cache.get("emotion", self.keys.emotion) is None:
            self._emotion_inputs = self._load_emotion(num_frames)

    def _open_out_dir(self) -> None:
        """Create the output folder and its frame folders (every input is valid by now)."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.frames = FrameWriter(self.out_dir / "frames")
            self.pasted = FrameWriter(self.out_dir / "pasted") if self.spec.paste_back else None
        except OSError as exc:
            raise folder_error(self.out_dir, exc, "create the output folder") from None

    def _report(self, stage: str, done: int, total: int, message: str = "") -> None:
        if self.progress_cb is not None:
            self.progress_cb(Progress(stage, done, total, message))

    def _cancelled(self) -> bool:
        return self.cancel.is_set()

    def _frame_range(self, num_frames: int) -> tuple[int, int]:
        start = int(self.spec.frame_start)
        end = num_frames if self.spec.frame_end is None else min(int(self.spec.frame_end), num_frames)
        if start < 0:
            raise InputError(None, f"frame_start {start} is negative", "use 0 or more", field="frame_start")
        if start >= end:
            raise InputError(None, f"frame range {start}..{end} is empty (the audio has {num_frames} frames at 25 fps)",
                             f"choose frames between 0 and {num_frames}", field="frame_end")
        return start, end

    # --- frames -----------------------------------------------------------------------------

    def _resume_plan(self, resume: bool, crop: PortraitCrop) -> list[int]:
        """Frame indices still to render. Frames (and the MP4) of a different job are removed first,
        so a folder never mixes two jobs, even when this one is interrupted in turn."""
        start, end = self.range
        wanted = range(start, end)
        old = read_manifest(self.out_dir / MANIFEST)
        same_job = resume and folder_lock.frames_job_key(self.out_dir, old) == self.keys.job
        self._deleting.append(discard_leftovers(self.out_dir))
        if not same_job:  # the old frames leave the folders at once; the disk is freed in the background
            self._deleting.append(self.frames.discard_all())
            if (self.out_dir / "pasted").is_dir():
                self._deleting.append((self.pasted or FrameWriter(self.out_dir / "pasted")).discard_all())
            (self.out_dir / MP4_NAME).unlink(missing_ok=True)
            folder_lock.write_frames_job(self.out_dir, self.keys.job)
            return list(wanted)
        for writer in (self.frames, self.pasted):
            if writer is not None:
                writer.clear_partials()
        done = self.frames.complete(wanted)
        if self.pasted is not None:
            self._paste_existing(crop, sorted(done - self.pasted.complete(done)))
        todo = [i for i in wanted if i not in done]
        if len(todo) < len(wanted):
            self.cached.append("frames")
            log.info("resuming: %d of %d frames already written", len(wanted) - len(todo), len(wanted))
        self.mp4_done = (not todo and old is not None and old.get("state") == "done" and old.get("mp4") == MP4_NAME
                         and (old.get("frame_start"), old.get("frame_end")) == self.range
                         and bool(old.get("pasted")) == self.spec.paste_back and (self.out_dir / MP4_NAME).is_file())
        return todo

    def _paste_existing(self, crop: PortraitCrop, indices: list[int]) -> None:
        if not indices:
            return
        from eamm_core.render.paste_back import paste_back

        for i in indices:
            self.pasted.write(i, paste_back(crop, read_png(self.frames.path(i))))

    def _render(self, motion: Motion, todo: list[int]) -> None:
        """Render ``todo`` in order into a :class:`FrameSink`, which writes the PNGs (and feeds the MP4
        stream) on a background writer while the next frame renders.
        Progress (frames on disk) is reported from this thread; cancel is checked after each frame."""
        t0 = time.perf_counter()
        start, end = self.range
        total = end - start
        written = [total - len(todo)]
        self._report("render", written[0], total, "rendering frames")
        self.sink = FrameSink(self.out_dir, self.frames, self.pasted, self.range, self._report, self._cancelled)
        if self.spec.write_mp4 and len(todo) == total:  # a full render: encode while rendering
            self.sink.stream = Mp4Stream(Path(self.spec.audio), self.out_dir / MP4_NAME, MODEL_FPS, start, total)
        setup_key, setup_hit = self._load_render_setup(motion.crop)
        frames = self.engine.render(motion.crop, motion.kp_source, motion.kp_driving, todo)
        with opencv_threads(1 if (os.cpu_count() or 1) <= 2 else None):
            self.sink.consume(frames, motion.crop, written, total)
        if not setup_hit:
            self._store_render_setup(setup_key, motion.crop)
        self._report("render", written[0], total, "frames written")
        self.timings["render"] = time.perf_counter() - t0

    def _join_deleting(self) -> None:
        for thread in self._deleting:
            if thread is not None:
                thread.join()
        self._deleting = []

    def _load_render_setup(self, crop: PortraitCrop) -> tuple[str, bool]:
        """Per-portrait render data an engine can reuse (landmark engine: the mesh's triangulation and
        the mouth interior's measured look), cached beside the stages: an alpha-only rerun then skips
        them (and the scipy import). Not a
        stage of its own in ``cached_stages``: it never changes what is rendered."""
        engine = self.engine
        key = canonical_key({"stage": "render_setup", "crop": self.keys.crop,
                             "engine_class": f"{type(engine).__module__}.{type(engine).__qualname__}",
                             "code": code_fingerprint(*RENDER_CODE, type(engine).__module__)})
        hit = self.cache.get("render_setup", key)
        return key, bool(hit is not None and engine.use_render_setup(crop, hit))

    def _store_render_setup(self, key: str, crop: PortraitCrop) -> None:
        setup = self.engine.render_setup(crop)
        if setup:
            self.cache.put("render_setup", key, setup)

    def _count_done(self) -> int:
        if self.done_count is not None:
            return self.done_count
        start, end = self.range
        done = self.frames.complete(range(start, end))
        return len(done if self.pasted is None else done & self.pasted.complete(done))

    def _encode(self) -> Path | None:
        start, end = self.range
        if not self.spec.write_mp4:
            return None
        missing = (end - start) - self._count_done()
        if missing:
            raise EammError(f"{missing} frames are missing in {self.frames.folder}; run the job again to finish them")
        if self.mp4_done:
            return self.out_dir / MP4_NAME
        t0 = time.perf_counter()
        self._report("encode", 0, 1, "encoding the MP4")
        stream = self.sink.take_stream() if self.sink is not None else None
        if stream is not None and stream.frames == end - start:
            mp4 = stream.close()
        else:
            if stream is not None:
                stream.abort()
            source = self.pasted.folder if self.pasted is not None else self.frames.folder
            mp4 = encode_mp4(source, Path(self.spec.audio), self.out_dir / MP4_NAME, MODEL_FPS, start, end - start)
        self.timings["encode"] = time.perf_counter() - t0
        return mp4

    # --- manifest and result ----------------------------------------------------------------

    def _start_manifest(self, num_frames: int, alpha: np.ndarray) -> None:
        self.manifest = start_record(self.spec, self.keys, self.engine.describe(), self.frame_size, self.range,
                                     alpha, num_frames, _now())
        self._write_manifest({**self.manifest, "warnings": self.warnings})

    def _finish_manifest(self, state: str, *, mp4: Path | None = None, error: str | None = None) -> None:
        if not self.manifest:  # failed before the job was known: nothing to record beside the frames
            return
        if self.emotion_reference is not None:
            self.manifest["emotion_reference"] = self.emotion_reference
        self.manifest.update(state=state, frame_count=self._count_done(), cached_stages=list(self.cached),
                             mp4=mp4.name if mp4 else None, warnings=list(self.warnings), error=error,
                             timings_s={k: round(v, 3) for k, v in self.timings.items()}, finished=_now())
        self._write_manifest(self.manifest)

    def _write_manifest(self, data: dict) -> None:
        try:
            write_manifest(self.out_dir / MANIFEST, data)
        except OSError as exc:
            raise folder_error(self.out_dir, exc, "write manifest.json", kept=True) from None

    def _result(self, *, mp4: Path | None = None, cancelled: bool = False) -> JobResult:
        return JobResult(out_dir=self.out_dir, frames_dir=self.frames.folder, frame_count=self._count_done(),
                         first_frame=self.range[0], mp4=mp4, manifest=self.out_dir / MANIFEST,
                         warnings=list(self.warnings), cancelled=cancelled, cached_stages=list(self.cached),
                         emotion_reference=self.emotion_reference)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
