"""A shot split into farm tasks (docs/farm.md): a motion step, frame-range render chunks, assemble.

* :func:`run_motion_stage` computes prepare + motion + emotion into the stage cache (on a shared
  folder), clears an old job's frames from ``OUT`` (the only step that does) and writes
  ``OUT/job.json``: what the chunks and :func:`assemble` need.
* :func:`run_render_chunk` renders one frame range into ``OUT/frames`` and writes
  ``OUT/chunks/<start>-<end>.json`` (range, job key, done); no manifest, no MP4. It computes the
  motion itself when the cache lacks it (the same result: the stages are deterministic) and
  resumes: frames of the same job already on disk are kept.
* :func:`assemble` holds ``OUT`` exclusively, checks every frame is there and belongs to the job,
  encodes the MP4 with the audio and writes the manifest ``done``.

Chunks of one job share ``OUT`` at the same time (the folder lock is keyed by job:
:mod:`eamm_core.folder_lock`); frames are byte-identical to a one-process render on the same
kind of machine (same CPU architecture and library versions).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from eamm_core import MODEL_FPS, folder_lock
from eamm_core.cache import Cache, default_cache_dir
from eamm_core.curves import strength_per_frame
from eamm_core.engines.base import get_engine
from eamm_core.errors import InputError
from eamm_core.job import JobResult, JobSpec, ProgressCallback
from eamm_core.manifest import MANIFEST
from eamm_core.output import FrameWriter, atomic_write_bytes, encode_mp4, read_manifest, write_manifest
from eamm_core.pipeline import MP4_NAME, _JobRunner, _now, engine_options

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
CHUNKS_DIR = "chunks"
JOB_FORMAT = 1


@dataclass(frozen=True)
class MotionResult:
    """What the motion step did: the job's key and length, and where its job file is."""

    job_key: str
    frame_count: int
    job_file: Path
    cached_stages: tuple[str, ...]
    cleared_old_job: bool


def spec_record(spec: JobSpec) -> dict:
    """``spec`` as JSON values (paths as strings, arrays as lists)."""
    out = {}
    for f in fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, np.ndarray):
            value = np.asarray(value).tolist()
        out[f.name] = value
    return out


class _StageRunner(_JobRunner):
    """A :class:`_JobRunner` that runs one farm stage instead of the whole job."""

    def _prepare(self) -> tuple:
        self._report("prepare", 0, 3, "reading the portrait and the audio")
        crop = self._stage_crop()
        audio = self._stage_audio()
        alpha = strength_per_frame(self.spec.strength, audio.num_frames)
        if self.engine is None:
            self.engine = get_engine(self.spec.engine, engine_options(self.spec))
        else:
            self.engine.options = engine_options(self.spec)
        self._resolve_frame_size(crop)
        self._compute_keys(audio.num_frames, alpha)
        return crop, audio, alpha

    def _hold_folder(self) -> None:
        """Create and hold the output folder for this job; called once every input has been read
        (the motion computed or found in the cache), so bad input leaves the folder as it was."""
        self.lock = folder_lock.acquire(self.out_dir, self.keys.job, wait=self.wait)
        if self.frames is None:  # a runner that makes its frame folders only once inputs are valid
            self.frames = FrameWriter(self.out_dir / "frames")
        if self.pasted is None and self.spec.paste_back:
            self.pasted = FrameWriter(self.out_dir / "pasted")

    def _finish_manifest(self, state, *, mp4=None, error=None) -> None:
        if self.manifest:  # the motion step's manifest; a chunk writes none
            super()._finish_manifest(state, mp4=mp4, error=error)


class _MotionRunner(_StageRunner):
    def _run(self, resume: bool) -> MotionResult:
        if self.cache.root is None:
            raise InputError(None, "the motion step stores its result in the stage cache",
                             "drop --no-cache (give a --cache-dir on shared storage)", field="stage")
        crop, audio, alpha = self._prepare()
        num_frames = audio.num_frames
        self.range = (0, num_frames)
        self._stage_motion(crop, audio, alpha)  # motion + emotion into the cache, before the folder is touched
        self._hold_folder()
        key = self.keys.job
        cleared = folder_lock.frames_job_key(self.out_dir, read_manifest(self.out_dir / MANIFEST)) != key
        if cleared or not resume:
            self._clear_old_job()
        self._start_manifest(num_frames, alpha)  # state "running" until assemble
        manifest = {**self.manifest, "cached_stages": list(self.cached), "warnings": list(self.warnings)}
        if self.emotion_reference is not None:
            manifest["emotion_reference"] = self.emotion_reference
        job = {"format": JOB_FORMAT, "job_key": key, "frame_count": num_frames, "fps": MODEL_FPS,
               "audio": str(Path(self.spec.audio).resolve()), "write_mp4": self.spec.write_mp4,
               "paste_back": self.spec.paste_back, "cache_dir": str(self.cache.root),
               "spec": spec_record(self.spec), "manifest": manifest}
        path = self.out_dir / JOB_FILE
        atomic_write_bytes(path, (json.dumps(job, indent=2, default=str) + "\n").encode("utf-8"))
        self.manifest = {}  # written; nothing more to record here
        return MotionResult(key, num_frames, path, tuple(self.cached), cleared)

    def _clear_old_job(self) -> None:
        """Another job's frames, MP4, manifest and chunk records leave the folder (frames aside
        at once, deleted in the background), then the folder records this job's key."""
        self._deleting.append(self.frames.discard_all())
        pasted = self.out_dir / "pasted"
        if pasted.is_dir():
            self._deleting.append(FrameWriter(pasted).discard_all())
        for name in (MP4_NAME, MANIFEST, JOB_FILE):
            (self.out_dir / name).unlink(missing_ok=True)
        for record in (self.out_dir / CHUNKS_DIR).glob("*.json"):
            record.unlink(missing_ok=True)
        folder_lock.write_frames_job(self.out_dir, self.keys.job)


class _ChunkRunner(_StageRunner):
    def _run(self, resume: bool) -> JobResult:
        crop, audio, alpha = self._prepare()
        num_frames = audio.num_frames
        start = int(self.spec.frame_start)
        if start >= num_frames and (self.spec.frame_end is None or self.spec.frame_end > start):
            # a farm's last chunk may start past a shot's end (frame count rounded up): nothing to do
            log.info("frames from %d: past the shot's %d frames; nothing to render", start, num_frames)
            self.range = (start, start)
            self._hold_folder()
            self._write_record(True)
            return self._result()
        self.range = self._frame_range(num_frames)
        motion = self._stage_motion(crop, audio, alpha)  # from the cache, or computed (and validated) here
        self._hold_folder()
        self._check_folder_job()
        self._write_record(False)
        todo = self._chunk_todo(resume, crop)
        if todo and not self._cancelled():
            self._render(motion, todo)
        done = self._count_done() == self.range[1] - self.range[0]
        self._write_record(done and not self._cancelled())
        return self._result(cancelled=self._cancelled())

    def _check_folder_job(self) -> None:
        owner = folder_lock.frames_job_key(self.out_dir, read_manifest(self.out_dir / MANIFEST))
        if owner == self.keys.job:
            return
        if owner is None and not self.frames.indices_on_disk():
            folder_lock.write_frames_job(self.out_dir, self.keys.job)  # a fresh folder: this job's from now on
            return
        raise InputError(self.out_dir, f"the frames here belong to another job ({(owner or 'unknown')[:12]})",
                         "run this job's motion step (eamm generate ... --stage motion) first; it clears them")

    def _chunk_todo(self, resume: bool, crop) -> list[int]:
        """Frames of this range still to render; only this range's partial files are removed
        (other chunks write theirs beside it at the same time)."""
        start, end = self.range
        for writer in (self.frames, self.pasted):
            if writer is None:
                continue
            for part in writer.folder.glob(".frame_*.part"):
                m = re.match(r"^\.frame_(\d+)\.png\.", part.name)
                if m and start <= int(m.group(1)) < end:
                    part.unlink(missing_ok=True)
        if not resume:
            return list(range(start, end))
        done = self.frames.complete(range(start, end))
        if self.pasted is not None:
            self._paste_existing(crop, sorted(done - self.pasted.complete(done)))
        if done:
            self.cached.append("frames")
            log.info("resuming: %d of %d frames already written", len(done), end - start)
        return [i for i in range(start, end) if i not in done]

    def _write_record(self, done: bool) -> None:
        start, end = self.range
        folder = self.out_dir / CHUNKS_DIR
        folder.mkdir(exist_ok=True)
        record = {"frame_start": start, "frame_end": end, "job_key": self.keys.job, "done": done,
                  "frames_written": self._count_done() if end > start else 0, "host": socket.gethostname(),
                  "time": _now()}
        atomic_write_bytes(folder / f"{start}-{end}.json", (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def _runner(cls, spec: JobSpec, out_dir: Path, cache_dir, use_cache: bool, progress, cancel, wait: bool):
    root = (cache_dir or default_cache_dir()) if use_cache else None
    runner = cls(spec, Path(out_dir), Cache(root), progress, cancel or threading.Event(), None)
    runner.wait = wait
    return runner


def run_motion_stage(spec: JobSpec, out_dir: Path, *, cache_dir: Path | None = None, use_cache: bool = True,
                     progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
                     wait: bool = False, resume: bool = True) -> MotionResult:
    """The farm's first step (module docstring). The whole shot: ``spec``'s frame range is ignored."""
    spec = replace(spec, frame_start=0, frame_end=None)
    return _runner(_MotionRunner, spec, out_dir, cache_dir, use_cache, progress, cancel, wait).run(resume)


def run_render_chunk(spec: JobSpec, out_dir: Path, *, cache_dir: Path | None = None, use_cache: bool = True,
                     progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
                     wait: bool = False, resume: bool = True) -> JobResult:
    """Render ``spec.frame_start .. spec.frame_end`` into ``out_dir`` as one chunk (module docstring)."""
    spec = replace(spec, write_mp4=False)
    return _runner(_ChunkRunner, spec, out_dir, cache_dir, use_cache, progress, cancel, wait).run(resume)


def missing_ranges(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted frame indices -> inclusive (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _read_job(out_dir: Path) -> dict:
    path = out_dir / JOB_FILE
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
        if job.get("format") != JOB_FORMAT or not job.get("job_key"):
            raise ValueError("unknown format")
        return job
    except FileNotFoundError:
        raise InputError(path, "no job file (job.json)",
                         "run the job's motion step first (eamm generate ... --stage motion)") from None
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(path, f"unreadable job file ({exc})", "run the job's motion step again") from None


def assemble(out_dir: Path, *, wait: bool = False) -> JobResult:
    """The farm's last step: check, encode, manifest ``done`` (module docstring).

    Raises :class:`InputError` (exit 2) naming the missing frame ranges, or frames of another job."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    job = _read_job(out_dir)
    key, count = job["job_key"], int(job["frame_count"])
    with folder_lock.acquire(out_dir, key, exclusive=True, wait=wait):
        owner = folder_lock.frames_job_key(out_dir)
        if owner != key:
            raise InputError(out_dir, f"the frames here belong to another job ({(owner or 'unknown')[:12]}), "
                             f"not to job.json's {key[:12]}", "run the job's motion step and its chunks again")
        frames = FrameWriter(out_dir / "frames")
        pasted = FrameWriter(out_dir / "pasted") if job.get("paste_back") else None
        have = frames.complete(range(count))
        if pasted is not None:
            have &= pasted.complete(have)
        missing = [i for i in range(count) if i not in have]
        if missing:
            runs = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in missing_ranges(missing))
            raise InputError(out_dir, f"{len(missing)} of {count} frames are missing (frames {runs})",
                             "render those ranges (eamm generate ... --stage render --frame-start A --frame-end B+1) "
                             "and run eamm assemble again")
        mp4 = None
        if job.get("write_mp4", True):
            source = pasted.folder if pasted is not None else frames.folder
            fps = float(job.get("fps", MODEL_FPS))
            mp4 = encode_mp4(source, Path(job["audio"]), out_dir / MP4_NAME, fps, 0, count)
        manifest = dict(job["manifest"])
        timings = dict(manifest.get("timings_s") or {})
        timings["assemble"] = round(time.perf_counter() - t0, 3)
        chunks = sorted(p.name for p in (out_dir / CHUNKS_DIR).glob("*.json"))
        manifest.update(state="done", frame_count=count, mp4=mp4.name if mp4 else None, error=None,
                        timings_s=timings, farm={"chunks": chunks}, finished=_now())
        write_manifest(out_dir / MANIFEST, manifest)
    return JobResult(out_dir=out_dir, frames_dir=frames.folder, frame_count=count, first_frame=0, mp4=mp4,
                     manifest=out_dir / MANIFEST, cached_stages=["frames"])
