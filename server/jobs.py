"""Job records, their persistence and the queue shared by the workers.

A job lives in ``<data>/jobs/<id>/``: ``job.json`` (this record, rewritten atomically on every
state change and at most once a second while frames come in), ``spec.json`` (what the runner
reads) and ``out/`` (frames, MP4, manifest). On start, every ``job.json`` is read back: jobs that
were ``running`` become ``interrupted`` (resumable, frames on disk kept and counted), ``queued``
jobs are queued again.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from server.errors import ApiError, not_found
from server.store import atomic_write_json, read_json

log = logging.getLogger("eamm.server")

JOB_ID_RE = re.compile(r"^j_[0-9a-f]{20}$")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
RESUMABLE_STATES = ("cancelled", "interrupted", "failed")
JOB_STATES = ("queued", "running", *FINAL_STATES)
FRAME_RE = re.compile(r"^frame_(\d{6,})\.png$")
PERSIST_EVERY_S = 1.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class JobRecord:
    """One job's status (``status()`` is what the API answers) and what it was asked for."""

    id: str
    created: str
    frame_start: int
    frames_total: int
    engine: str = "landmark"
    paste_back: bool = False
    wanted: list = field(default_factory=lambda: ["frames", "mp4"])
    state: str = "queued"
    stage: str = "prepare"
    frames_done: int = 0
    fps: int = 25
    eta_s: float | None = None
    warnings: list = field(default_factory=list)
    error: str | None = None
    error_field: str | None = None
    started: str | None = None
    finished: str | None = None
    outputs: dict = field(default_factory=lambda: {"frames": False, "mp4": False})
    cached: list = field(default_factory=list)
    device: str | None = None
    runs: int = 0
    request: dict = field(default_factory=dict)

    def status(self) -> dict:
        return {"id": self.id, "state": self.state, "stage": self.stage, "frames_done": self.frames_done,
                "frames_total": self.frames_total, "frame_start": self.frame_start, "fps": self.fps,
                "eta_s": self.eta_s, "warnings": list(self.warnings), "error": self.error,
                "error_field": self.error_field, "created": self.created, "started": self.started,
                "finished": self.finished, "outputs": dict(self.outputs), "cached": list(self.cached),
                "engine": self.engine, "paste_back": self.paste_back, "device": self.device,
                "resumable": self.state in RESUMABLE_STATES}

    @classmethod
    def from_json(cls, data: dict) -> JobRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class _Live:
    """Bookkeeping of a running job that is not persisted."""

    handle: object = None
    cancel_requested: bool = False
    delete_requested: bool = False
    render_t0: float | None = None
    render_done0: int = 0
    persisted_at: float = 0.0


class JobManager:
    """All jobs, the queue and change notification (thread-safe)."""

    def __init__(self, jobs_dir: Path):
        self.jobs_dir = jobs_dir
        jobs_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.jobs: dict[str, JobRecord] = {}
        self.versions: dict[str, int] = {}
        self.live: dict[str, _Live] = {}
        self.queue: deque[str] = deque()
        self.closing = False
        self._recover()

    # --- paths --------------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        if not JOB_ID_RE.match(job_id):
            raise ValueError("not a server-made job id")
        return self.jobs_dir / job_id

    def out_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "out"

    # --- persistence ----------------------------------------------------------------------------

    def _persist(self, rec: JobRecord) -> None:
        try:
            atomic_write_json(self.job_dir(rec.id) / "job.json", asdict(rec))
        except OSError as exc:  # disk full, permissions: keep serving, the record stays in memory
            log.error("could not save job %s: %s", rec.id, exc)

    def _recover(self) -> None:
        found = []
        for path in sorted(self.jobs_dir.glob("j_*/job.json")):
            if not JOB_ID_RE.match(path.parent.name):
                continue
            try:
                rec = JobRecord.from_json(read_json(path))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("skipping unreadable job record %s: %s", path, exc)
                continue
            if rec.id != path.parent.name:
                continue
            if rec.state == "running":
                rec.state, rec.eta_s, rec.finished = "interrupted", None, now_iso()
                rec.error = "the server stopped while this job ran; resume it to finish the missing frames"
                rec.frames_done = self.frames_on_disk(rec)
                self._persist(rec)
            found.append(rec)
        for rec in sorted(found, key=lambda r: r.created):
            self.jobs[rec.id] = rec
            self.versions[rec.id] = 0
            if rec.state == "queued":
                self.queue.append(rec.id)
        if found:
            log.info("found %d job(s) in %s", len(found), self.jobs_dir)

    def frames_on_disk(self, rec: JobRecord) -> int:
        folder = self.out_dir(rec.id) / "frames"
        lo, hi = rec.frame_start, rec.frame_start + rec.frames_total
        try:
            names = [FRAME_RE.match(n) for n in (p.name for p in folder.iterdir())]
        except OSError:
            return 0
        return sum(1 for m in names if m and lo <= int(m.group(1)) < hi)

    # --- queries ----------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        with self.lock:
            rec = self.jobs.get(job_id) if isinstance(job_id, str) else None
            if rec is None:
                raise not_found(f"job {job_id[:40]!r}")
            return rec

    def status(self, job_id: str) -> dict:
        with self.lock:
            return self.get(job_id).status()

    def version(self, job_id: str) -> int | None:
        with self.lock:
            return self.versions.get(job_id)

    def list(self) -> list[dict]:
        with self.lock:
            recs = sorted(self.jobs.values(), key=lambda r: (r.created, r.id), reverse=True)
            return [r.status() for r in recs]

    def _changed(self, rec: JobRecord, persist: bool = True) -> None:
        self.versions[rec.id] = self.versions.get(rec.id, 0) + 1
        if persist:
            self._persist(rec)
            self.live.setdefault(rec.id, _Live()).persisted_at = time.monotonic()
        self.wake.notify_all()

    # --- commands -----------------------------------------------------------------------------

    def create(self, spec: dict, frames_total: int, request: dict) -> dict:
        job_id = "j_" + secrets.token_hex(10)
        rec = JobRecord(id=job_id, created=now_iso(), frame_start=int(spec["frame_start"]),
                        frames_total=int(frames_total), engine=spec["engine"], paste_back=bool(spec["paste_back"]),
                        wanted=list(request.get("outputs") or ["frames", "mp4"]), request=request)
        folder = self.job_dir(job_id)
        try:
            (folder / "out").mkdir(parents=True)
            atomic_write_json(folder / "spec.json", spec)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(507, f"could not create the job folder: {exc.strerror or exc}") from None
        with self.lock:
            if self.closing:
                raise ApiError(503, "the server is shutting down")
            self.jobs[job_id] = rec
            self.queue.append(job_id)
            self._changed(rec)
            return rec.status()

    def cancel(self, job_id: str) -> dict:
        with self.lock:
            rec = self.get(job_id)
            if rec.state == "queued":
                self.queue.remove(job_id)
                rec.state, rec.finished, rec.eta_s = "cancelled", now_iso(), None
                self._changed(rec)
            elif rec.state == "running":
                live = self.live.setdefault(job_id, _Live())
                if not live.cancel_requested:
                    live.cancel_requested = True
                    if live.handle is not None:
                        live.handle.cancel()
            return rec.status()

    def resume(self, job_id: str) -> dict:
        with self.lock:
            rec = self.get(job_id)
            if rec.state not in RESUMABLE_STATES:
                raise ApiError(409, f"job {job_id} is {rec.state}; only cancelled, interrupted or failed "
                               "jobs can be resumed")
            rec.state, rec.error, rec.error_field, rec.finished, rec.eta_s = "queued", None, None, None, None
            self.queue.append(job_id)
            self._changed(rec)
            return rec.status()

    def delete(self, job_id: str) -> None:
        with self.lock:
            rec = self.get(job_id)
            if rec.state == "running":
                live = self.live.setdefault(job_id, _Live())
                live.delete_requested = True
                live.cancel_requested = True
                if live.handle is not None:
                    live.handle.cancel()
            elif rec.state == "queued":
                self.queue.remove(job_id)
            self._forget(rec, remove_files=rec.state != "running")

    def _forget(self, rec: JobRecord, remove_files: bool) -> None:
        self.jobs.pop(rec.id, None)
        self.versions[rec.id] = self.versions.get(rec.id, 0) + 1
        self.wake.notify_all()
        if remove_files:
            shutil.rmtree(self.job_dir(rec.id), ignore_errors=True)
            self.versions.pop(rec.id, None)
            self.live.pop(rec.id, None)

    # --- the workers' side --------------------------------------------------------------------

    def next_job(self, device: str) -> JobRecord | None:
        """Block until a job is queued (then mark it running on ``device``) or the server closes."""
        with self.lock:
            while not self.queue and not self.closing:
                self.wake.wait(1.0)
            if self.closing:
                return None
            rec = self.jobs[self.queue.popleft()]
            rec.state, rec.device, rec.started, rec.finished = "running", device, now_iso(), None
            rec.stage, rec.eta_s, rec.runs = "prepare", None, rec.runs + 1
            self.live[rec.id] = _Live()
            self._changed(rec)
            return rec

    def attach(self, job_id: str, handle) -> None:
        with self.lock:
            live = self.live.setdefault(job_id, _Live())
            live.handle = handle
            if live.cancel_requested or self.closing:
                handle.cancel()

    def on_progress(self, job_id: str, stage: str, done: int, total: int) -> None:
        with self.lock:
            rec, live = self.jobs.get(job_id), self.live.get(job_id)
            if rec is None or live is None:
                return
            rec.stage = stage if stage in ("prepare", "motion", "render", "encode", "done") else rec.stage
            if stage == "render":
                now = time.monotonic()
                if live.render_t0 is None:
                    live.render_t0, live.render_done0 = now, done
                rec.frames_done, rec.frames_total = int(done), int(total) or rec.frames_total
                made, spent = done - live.render_done0, now - live.render_t0
                rec.eta_s = round((total - done) * spent / made, 1) if made > 0 and spent > 0 else None
            elif stage in ("encode", "done"):
                rec.eta_s = 0.0 if stage == "done" else rec.eta_s
            persist = time.monotonic() - live.persisted_at >= PERSIST_EVERY_S
            self._changed(rec, persist=persist)

    def finish(self, job_id: str, result: dict | None, error: dict | None, returncode: int | None) -> None:
        """Record how a run ended: ``result`` or ``error`` message from the runner, exit code."""
        with self.lock:
            live = self.live.pop(job_id, _Live())
            rec = self.jobs.get(job_id)
            if live.delete_requested or rec is None:
                shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
                self.versions.pop(job_id, None)
                return
            rec.finished, rec.eta_s = now_iso(), None
            rec.frames_done = self.frames_on_disk(rec)
            if result is not None:
                self._apply_result(rec, result, live)
            elif error is not None:
                rec.state, rec.error, rec.error_field = "failed", str(error.get("message")), error.get("field")
            elif self.closing:
                rec.state = "interrupted"
            elif live.cancel_requested:
                rec.state = "cancelled"
            else:
                rec.state = "failed"
                rec.error = (f"the engine process stopped unexpectedly (exit code {returncode}); the frames "
                             "made so far are kept and the job can be resumed; details in the job's runner.log")
            if rec.state == "failed" and self.closing:
                rec.state = "interrupted"
            self._changed(rec)

    def _apply_result(self, rec: JobRecord, result: dict, live: _Live) -> None:
        rec.warnings = list(dict.fromkeys([*rec.warnings, *result.get("warnings", [])]))
        rec.cached = list(result.get("cached", []))
        rec.outputs = {"frames": rec.frames_done > 0, "mp4": bool(result.get("mp4"))}
        if result.get("cancelled"):
            rec.state = "interrupted" if self.closing and not live.cancel_requested else "cancelled"
        else:
            rec.state, rec.stage, rec.error, rec.error_field = "done", "done", None, None

    def close(self) -> list:
        """Stop taking jobs; ask running ones to stop (they end ``interrupted``). Returns handles."""
        with self.lock:
            self.closing = True
            handles = [live.handle for live in self.live.values() if live.handle is not None]
            for handle in handles:
                handle.cancel()
            self.wake.notify_all()
            return handles
