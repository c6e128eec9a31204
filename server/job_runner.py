"""One job in its own process: ``python -m server.job_runner <job dir> [--cache DIR] [--device D]``.

The server starts one runner per job so that an engine that crashes (or runs out of memory) fails
that job alone. Protocol:

* stdin (from the server): a line ``cancel`` sets the cancel event (the pipeline stops after the
  current frame and keeps the frames written); end of file means the server has gone away, which
  also cancels, and the process exits after a grace period whatever the pipeline is doing;
* stdout (to the server): one JSON object per line, ``{"type": "progress", "stage", "done",
  "total", "message"}``, then exactly one ``{"type": "result", ...}`` or ``{"type": "error",
  "message", "field", "internal"}``. Anything else the process prints goes to stderr (the job's
  ``runner.log``).

``<job dir>/spec.json`` (written by the server) holds resolved paths and parameters; the runner
always resumes from the frames on disk (the pipeline re-renders everything when
the inputs changed), and holds an exclusive lock on ``<job dir>/runner.lock`` while it runs, so a runner left behind by a
killed server finishes stopping before a resumed one writes frames.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from eamm_core.prepare.landmark_models import DEFAULT_LANDMARKS
from eamm_core.writer_process import FORK_SAFE_ATTR

log = logging.getLogger("eamm.server.runner")
ORPHAN_GRACE_S = 20.0
LOCK_WAIT_S = 60.0


class _Channel:
    """JSON lines to the server on the original stdout; prints go to stderr from now on."""

    def __init__(self):
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._lock = threading.Lock()

    def send(self, **message) -> None:
        with self._lock:
            try:
                self._out.write(json.dumps(message) + "\n")
                self._out.flush()
            except (OSError, ValueError):
                pass  # the server has gone; the stdin watcher ends this process


def _watch_stdin(cancel: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "cancel":
            cancel.set()
    cancel.set()  # end of file: the server is gone
    time.sleep(ORPHAN_GRACE_S)
    log.warning("the server went away; stopping this job runner")
    os._exit(3)


def _lock(job_dir: Path):
    """An exclusive lock on ``runner.lock`` (released by the OS when this process dies)."""
    fh = open(job_dir / "runner.lock", "a+b")
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("another runner still holds this job's lock") from None
            time.sleep(0.2)


def build_spec(data: dict):
    """The :class:`~eamm_core.job.JobSpec` described by ``spec.json``."""
    from eamm_core.job import JobSpec

    def path(key):
        return None if data.get(key) is None else Path(data[key])

    strength = data.get("strength", 1.0)
    pose = data.get("pose")
    if isinstance(pose, list):
        pose = np.asarray(pose, np.float32).reshape(-1, 6)
    elif pose is not None:
        pose = Path(pose)
    return JobSpec(
        portrait=Path(data["portrait"]), audio=Path(data["audio"]), emotion=path("emotion"),
        emotion_neutral=path("emotion_neutral"), pose=pose,
        strength=np.asarray(strength, np.float32) if isinstance(strength, list) else float(strength),
        engine=data.get("engine", "landmark"), model_dir=path("model_dir"), seed=int(data.get("seed", 0)),
        paste_back=bool(data.get("paste_back", False)), blink=bool(data.get("blink", True)),
        idle_motion=bool(data.get("idle_motion", False)), transcript=data.get("transcript"),
        face_index=data.get("face_index"), frame_start=int(data.get("frame_start", 0)),
        frame_end=data.get("frame_end"), write_mp4=bool(data.get("write_mp4", True)),
        device=data.get("device", "auto"), smooth_pose=bool(data.get("smooth_pose", False)),
        pose_absolute=bool(data.get("pose_absolute", False)), landmarks=data.get("landmarks", DEFAULT_LANDMARKS))


def _result_message(result) -> dict:
    return {"type": "result", "frame_count": result.frame_count, "first_frame": result.first_frame,
            "mp4": result.mp4 is not None, "warnings": list(result.warnings), "cancelled": bool(result.cancelled),
            "cached": list(result.cached_stages)}


def _file_error(channel: _Channel, exc: OSError) -> int:
    """Disk full, permissions, a file in the way: a job error, not a crash."""
    log.error("file error: %s", traceback.format_exc())  # called in the except block: the traceback is there
    channel.send(type="error", message=f"could not read or write job files: {exc.strerror or exc} "
                 f"({Path(exc.filename).name if exc.filename else 'job folder'})", field=None, internal=False)
    return 2


def run(job_dir: Path, channel: _Channel, cancel: threading.Event, *, cache_dir: Path | None,
        device: str | None) -> int:
    from dataclasses import replace

    from eamm_core.errors import EammError, OutputFolderError
    from eamm_core.pipeline import run_job

    try:
        lock = _lock(job_dir)
        spec = build_spec(json.loads((job_dir / "spec.json").read_text(encoding="utf-8")))
        if device:
            spec = replace(spec, device=device)

        def progress(p):
            channel.send(type="progress", stage=p.stage, done=int(p.done), total=int(p.total), message=p.message)

        stage = json.loads((job_dir / "spec.json").read_text(encoding="utf-8")).get("stage", "all")
        if stage == "motion":  # a farm's first step: the stages into the cache, no frames
            from eamm_core.chunks import run_motion_stage

            motion = run_motion_stage(spec, job_dir / "out", progress=progress, cancel=cancel, cache_dir=cache_dir)
            channel.send(type="result", frame_count=0, first_frame=spec.frame_start, mp4=False, warnings=[],
                         cancelled=cancel.is_set(), cached=list(motion.cached_stages))
            lock.close()
            return 0
        result = run_job(spec, job_dir / "out", progress=progress, cancel=cancel, cache_dir=cache_dir, resume=True)
    except OutputFolderError as exc:  # the job's own folder: the server's files, not the client's --out
        return _file_error(channel, exc.os_error)
    except EammError as exc:
        channel.send(type="error", message=str(exc), field=getattr(exc, "field", None), internal=False)
        return 2
    except OSError as exc:  # disk full, permissions: a job error, not a crash
        return _file_error(channel, exc)
    except Exception as exc:  # noqa: BLE001 - reported as an internal error, traceback in runner.log
        log.error("internal error: %s", traceback.format_exc())
        channel.send(type="error", message=f"internal error in the engine ({type(exc).__name__}: {exc}); "
                     "details in the job's runner.log", field=None, internal=True)
        return 70
    channel.send(**_result_message(result))
    lock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.job_runner")
    parser.add_argument("job_dir", type=Path)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    channel = _Channel()
    cancel = threading.Event()
    watcher = threading.Thread(target=_watch_stdin, args=(cancel,), name="eamm-stdin-watch", daemon=True)
    # it only reads stdin, which the pipeline's forked frame writer never touches: forking beside it is safe
    setattr(watcher, FORK_SAFE_ATTR, True)
    watcher.start()
    return run(args.job_dir, channel, cancel, cache_dir=args.cache, device=args.device)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
