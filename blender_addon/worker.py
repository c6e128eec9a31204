"""Every network and process job of the add-on, on worker threads (standard library only, no bpy).

A :class:`Flow` runs one job: uploads (streamed), submit, status polls, the frames download (streamed
to disk) and unzip. Small :func:`run_task` threads do health checks, cancels and server starts. All of
them post ``(token, kind, payload)`` tuples to :data:`EVENTS`; Blender's main thread drains it in its
timer (or render.py's blocking loop) and drops events whose token is no longer current (Cancel,
another .blend loaded, unregister). Nothing here touches bpy data.
"""

from __future__ import annotations

import itertools
import logging
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import bundled
from .client import Abandoned, Client, ClientError
from .state import (
    FINAL_STATES,
    AddonError,
    JobRecord,
    contiguous,
    extract_frames,
    frames_on_disk,
    panel_line,
    progress_fraction,
)
from .timing import AudioPlacement

log = logging.getLogger("eamm.addon")

EVENTS: queue.Queue[tuple[int, str, dict]] = queue.Queue()
UPLOAD_SHARE, RENDER_SHARE = 0.1, 0.8  # of the progress bar; the download gets the rest
POLL_S = 0.5
LOST_AFTER_S = 4.0  # polls failing this long: the server stopped answering
POST_EVERY_S = 0.1  # progress events at most this often
_TOKENS = itertools.count(1)
_UPLOADS: dict[tuple, dict] = {}  # (server, file, size, mtime, role) -> upload record: re-send nothing unchanged
_PROCESS: dict[str, subprocess.Popen] = {}
_LOCK = threading.Lock()


def new_token() -> int:
    return next(_TOKENS)


@dataclass
class JobSpec:
    """Everything a job needs, read from the scene on the main thread (no bpy objects)."""

    url: str
    token: str | None
    out_dir: Path
    audio: Path
    portrait: Path
    emotion: Path | None
    job: dict  # the job JSON without upload ids, frame_end and per-frame curves
    curves: dict  # property -> values at model frames 0..model_end-1
    pose_props: tuple[str, ...]  # the pose curves to send (empty: the portrait's own pose)
    model_start: int
    model_end: int
    strip_name: str
    placement: AudioPlacement  # where the sound strip was: the worker maps scene frames to model frames
    start_args: list[str] | None = None  # start a server with these when none answers (auto start)
    down_message: str | None = None  # says what to do when no server answers (auto start refused)
    setup_dir: Path | None = None  # the bundled server: unpack it here first (once per version)


@dataclass(frozen=True)
class StripMap:
    """The model frame each visible scene frame shows, for one placement of the sound strip."""

    placement: AudioPlacement
    available: range
    mapping: list
    held: int  # scene frames past the rendered frames, holding the nearest one


def strip_map(place: AudioPlacement, frames_dir: Path, record: JobRecord) -> StripMap:
    """The frame map of the frames on disk (exact fractions: ~0.1 s for a 30 s shot, so the Flow
    works it out before the main thread imports)."""
    numbers = [n for n in frames_on_disk(frames_dir) if record.model_start <= n < record.model_end]
    available = contiguous(numbers)
    if not available:
        raise AddonError(f"no frames of job {record.job_id} in {frames_dir}: generate again")
    raw = [place.model_frame_at(f) for f in range(place.visible_start, place.visible_end)]
    lo, hi = available.start, available.stop - 1
    return StripMap(place, available, [min(hi, max(lo, k)) for k in raw],
                    sum(1 for k in raw if k not in available))


def _curve_or_number(values: list[float]) -> float | list[float]:
    return values[0] if all(abs(v - values[0]) < 1e-9 for v in values) else [round(v, 6) for v in values]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class Flow(threading.Thread):
    """One job from upload to frames on disk; ``record`` given: resume polling an existing job."""

    def __init__(self, client: Client, spec: JobSpec | None = None, record: JobRecord | None = None,
                 out_dir: Path | None = None, placement: AudioPlacement | None = None):
        super().__init__(name="eamm-job", daemon=True)
        self.client, self.spec, self.record = client, spec, record
        self.out_dir = spec.out_dir if spec is not None else out_dir
        self.placement = spec.placement if spec is not None else placement
        self.token = new_token()
        self.abort = threading.Event()
        self.frames_total = 0
        self.cancel_on_server = True
        self._last_post = 0.0

    # -- plumbing --------------------------------------------------------------------------------
    def post(self, kind: str, force: bool = True, **payload) -> None:
        now = time.monotonic()
        if self.abort.is_set() or (not force and now - self._last_post < POST_EVERY_S):
            return
        self._last_post = now
        EVENTS.put((self.token, kind, payload))

    def cancel(self) -> None:
        """Abandon whatever is in flight; a submitted job is cancelled on the server (on this thread)."""
        self.abort.set()

    def abandon(self) -> None:
        """Stop caring (unregister, another .blend loaded): the job goes on on the server."""
        self.cancel_on_server = False
        self.abort.set()

    def run(self) -> None:
        try:
            if self.record is None:
                self._start_server_if_asked()
                self._submit()
            status = self._poll()
            if status.get("state") == "done":
                self._download()
                mapped = None
                if self.placement is not None:
                    mapped = strip_map(self.placement, self.out_dir / "frames", self.record)
                self._check()
                EVENTS.put((self.token, "downloaded", {"record": self.record, "mapped": mapped}))
        except Abandoned:
            pass
        except (ClientError, AddonError) as exc:
            if exc.kind == "not_running" and self.spec is not None and self.spec.down_message:
                exc = ClientError(self.spec.down_message, "not_running")
            self.post("error", error=exc)
        except Exception as exc:  # a bug must not end as a silent thread: one line for the panel
            log.exception("EAMM job thread failed")
            self.post("error", error=AddonError(f"the add-on failed ({type(exc).__name__}: {exc}); see the "
                                               "system console", "server"))
        finally:
            if self.abort.is_set() and self.cancel_on_server and self.record is not None and self.record.job_id:
                try:
                    self.client.cancel(self.record.job_id)
                except ClientError:
                    pass

    def _check(self) -> None:
        if self.abort.is_set():
            raise Abandoned()

    # -- steps -----------------------------------------------------------------------------------
    def _start_server_if_asked(self) -> None:
        if not self.spec.start_args:
            return
        self.post("progress", state="starting", line="checking eamm-server…", progress=0.0)
        try:
            self.client.health()
            return
        except ClientError as exc:
            if exc.kind != "not_running":
                raise
        if self.spec.setup_dir is not None:
            bundled.ensure(self.spec.setup_dir, lambda part, line: self.post("progress", False, state="starting",
                                                                            line=line, progress=0.0))
            self._check()
        self.post("progress", state="starting", line="starting eamm-server…", progress=0.0)
        proc = start_server(self.spec.start_args)
        wait_for_server(self.client, 120.0, proc, self.abort)

    def _upload(self, path: Path, role: str, done: int, total: int) -> dict:
        st = path.stat() if path.is_file() else None
        key = (self.client.base_url, str(path), st and st.st_size, st and st.st_mtime_ns, role)
        if key in _UPLOADS:
            return _UPLOADS[key]
        line = f"uploading {role} ({_mb(st.st_size if st else 0)})…"

        def progress(sent: int, size: int) -> None:
            self.post("progress", False, state="uploading", line=line,
                      progress=UPLOAD_SHARE * (done + sent) / max(1, total))

        self.post("progress", state="uploading", line=line, progress=UPLOAD_SHARE * done / max(1, total))
        _UPLOADS[key] = self.client.upload(path, role, progress=progress, abort=self.abort)
        return _UPLOADS[key]

    def _build(self) -> dict:
        spec = self.spec
        files = [("audio", spec.audio), ("portrait", spec.portrait)] + ([("emotion", spec.emotion)]
                                                                        if spec.emotion else [])
        sizes = [p.stat().st_size if p.is_file() else 0 for _, p in files]
        ids, done = {}, 0
        for (role, path), size in zip(files, sizes):
            ids[role] = self._upload(path, role, done, sum(sizes))
            done += size
        available = (ids["audio"].get("info") or {}).get("frames")
        end = min(spec.model_end, int(available)) if isinstance(available, int) and available > 0 \
            else spec.model_end
        if end <= spec.model_start:
            raise AddonError(f"sound strip '{spec.strip_name}' shows no part of its sound file: move or trim it")
        job = dict(spec.job, portrait=ids["portrait"]["id"], audio=ids["audio"]["id"], frame_end=end,
                   strength=_curve_or_number(spec.curves["strength"][:end]))
        if spec.emotion:
            job["emotion"] = ids["emotion"]["id"]
        if spec.pose_props:  # artist units (degrees, size multiplier, crop-width offsets): the server converts
            job["pose"] = [list(row) for row in zip(*(spec.curves[p][:end] for p in spec.pose_props))]
            job["pose_units"] = "artist"
        self.record = JobRecord("", self.client.base_url, spec.model_start, end, spec.strip_name)
        return job

    def _submit(self) -> None:
        job = self._build()
        self._check()
        self.post("progress", state="submitting", line="submitting…", progress=UPLOAD_SHARE)
        try:
            status = self.client.submit(job)
        except ClientError as exc:
            if exc.kind != "input" or "upload" not in exc.message.lower():
                raise
            _UPLOADS.clear()  # the server forgot our uploads (restarted with a clean store): send them again
            job = self._build()
            status = self.client.submit(job)
        self.record.job_id = status["id"]
        self.record.save(self.out_dir)
        self._check()  # cancelled during submit: run() cancels the job on the server
        self.post("submitted", job_id=status["id"], **self._status_payload(status))

    def _status_payload(self, status: dict) -> dict:
        self.frames_total = status.get("frames_total") or self.frames_total
        return {"status": status, "state": status.get("state", ""), "line": panel_line(status),
                "progress": UPLOAD_SHARE + RENDER_SHARE * progress_fraction(status)}

    def _poll(self) -> dict:
        failing_since = None
        while True:
            self._check()
            try:
                status = self.client.status(self.record.job_id)
            except ClientError as exc:
                if exc.kind not in ("not_running", "timeout"):
                    raise
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since >= LOST_AFTER_S:
                    raise ClientError(f"eamm-server stopped answering at {self.client.base_url}; the job goes on "
                                      "there: press Import when it is back", "lost") from None
                self.abort.wait(POLL_S)
                continue
            failing_since = None
            self.post("status", **self._status_payload(status))
            if status.get("state") in FINAL_STATES:
                return status
            self.abort.wait(POLL_S)

    def _download(self) -> None:
        frames_dir = self.out_dir / "frames"
        total = max(1, self.frames_total or (self.record.model_end - self.record.model_start))
        base = UPLOAD_SHARE + RENDER_SHARE

        def progress(received: int, size: int | None) -> None:
            part = received / size if size else 0.0
            self.post("progress", False, state="downloading", progress=base + (1 - base) * part,
                      line=f"downloading frames {int(part * total)}/{total} ({_mb(received)})")

        self.post("progress", state="downloading", line=f"downloading frames 0/{total}", progress=base)
        try:
            zip_path = self.client.frames_zip(self.record.job_id, self.out_dir / "frames.zip", progress=progress,
                                              abort=self.abort)
        except ClientError as exc:
            if exc.status == 404 and frames_on_disk(frames_dir):
                return  # the server forgot the job (cleaned up): the downloaded frames are still good
            raise
        self._check()
        self.post("progress", state="downloading", line=f"unpacking {total} frames…", progress=0.99)
        for old in frames_dir.glob("frame_*.png") if frames_dir.is_dir() else ():
            old.unlink()
        self.record.frames = extract_frames(zip_path, frames_dir)
        zip_path.unlink()
        self.record.save(self.out_dir)


# -- small tasks ---------------------------------------------------------------------------------
def run_task(token: int, kind: str, fn, *args) -> threading.Thread:
    """Run ``fn(*args)`` on a thread; posts ``(token, kind, {"result": …})`` or ``{"error": exc}``."""
    def body():
        try:
            EVENTS.put((token, kind, {"result": fn(*args)}))
        except (ClientError, AddonError) as exc:
            EVENTS.put((token, kind, {"error": exc}))
        except Exception as exc:
            log.exception("EAMM task %s failed", kind)
            EVENTS.put((token, kind, {"error": AddonError(f"{kind} failed ({type(exc).__name__}: {exc})",
                                                          "server")}))

    thread = threading.Thread(target=body, name=f"eamm-{kind}", daemon=True)
    thread.start()
    return thread


def health(client: Client) -> dict:
    """/health plus the preset names (None when the server will not list them)."""
    info = dict(client.health(), url=client.base_url)
    try:
        info["presets"] = client.presets()
    except ClientError:  # an older server, or a token problem that Generate will report
        info["presets"] = None
    return info


def wait_for_server(client: Client, seconds: float, proc: subprocess.Popen | None = None,
                    abort: threading.Event | None = None) -> dict:
    """Poll /health until the server answers; the last error if it never does or ``proc`` exits."""
    deadline = time.monotonic() + seconds
    while True:
        if abort is not None and abort.is_set():
            raise Abandoned()
        try:
            return client.health()
        except ClientError as exc:
            if proc is not None and proc.poll() is not None:
                raise ClientError(f"eamm-server did not start (see {log_path()}): {exc}", "not_running") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


# -- the server process this Blender started -----------------------------------------------------
def log_path() -> Path:
    return Path(tempfile.gettempdir()) / "eamm-server-blender.log"


def server_process() -> subprocess.Popen | None:
    proc = _PROCESS.get("server")
    return proc if proc is not None and proc.poll() is None else None


def start_server(args: list[str]) -> subprocess.Popen:
    """Start eamm-server (once); it reads its stdin and stops when Blender closes it or dies."""
    with _LOCK:
        proc = server_process()
        if proc is not None:
            return proc
        log_file = open(log_path(), "ab")
        try:
            flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
            proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                                    creationflags=flags)
        except OSError as exc:
            raise AddonError(f"cannot start eamm-server with {args[0]!r} ({exc.strerror or exc}): set the server "
                             "command or Python in the add-on preferences", "not_running") from None
        finally:
            log_file.close()
        _PROCESS["server"] = proc
        return proc


def stop_server(wait: float = 0.0) -> bool:
    """Tell the started server to stop (stdin closed, then a stop signal); waits at most ``wait`` s
    (render.py waits; the UI never does: the server ends on its own)."""
    with _LOCK:
        proc = _PROCESS.pop("server", None)
    if proc is None or proc.poll() is not None:
        return False
    try:
        proc.stdin.close()
    except OSError:
        pass
    proc.terminate()
    if wait:
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return True
