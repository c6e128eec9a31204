"""Workers: one thread per device, each running one job at a time in its own process.

:class:`SubprocessRunner` starts ``python -m server.job_runner`` for a job and returns a
:class:`RunHandle` (messages from the runner, ``cancel()``, ``kill()``). The runner to use is a
parameter of :class:`Worker` (``create_app(runner=...)``), so the job store can be driven by
another runner.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import server
from eamm_core.runtime import single_thread_blas
from server.jobs import JobManager

log = logging.getLogger("eamm.server")

CANCEL_KILL_AFTER_S = 60.0  # a runner that ignores cancel this long is killed (frames stay on disk)


class RunHandle(Protocol):
    def messages(self) -> Iterator[dict]: ...
    def cancel(self) -> None: ...
    def kill(self) -> None: ...
    def wait(self) -> int | None: ...


class Runner(Protocol):
    def start(self, job_dir: Path, device: str, cache_dir: Path) -> RunHandle: ...


class SubprocessHandle:
    """A running ``server.job_runner`` process."""

    def __init__(self, proc: subprocess.Popen, log_file):
        self.proc = proc
        self.log_file = log_file
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def messages(self) -> Iterator[dict]:
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                log.debug("runner said: %s", line.rstrip())
                continue
            if isinstance(message, dict):
                yield message

    def cancel(self) -> None:
        with self._lock:
            if self.proc.poll() is not None:
                return
            try:
                self.proc.stdin.write(b"cancel\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):
                pass
            if self._timer is None:
                self._timer = threading.Timer(CANCEL_KILL_AFTER_S, self.kill)
                self._timer.daemon = True
                self._timer.start()

    def kill(self) -> None:
        if self.proc.poll() is None:
            log.warning("killing job runner %d", self.proc.pid)
            self.proc.kill()

    def wait(self) -> int | None:
        code = self.proc.wait()
        if self._timer is not None:
            self._timer.cancel()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log_file.close()
        return code


def job_python(package_root: str) -> list[str]:
    """How to run server.job_runner: as this server runs. A server isolated from its environment and
    site-packages (``-I -S``: the one bundled in the Blender extension, beside Blender's own numpy) gives
    its job processes the same isolation, with only its packages' folder on the path."""
    if sys.flags.isolated and sys.flags.no_site:
        code = (f"import runpy, site; site.addsitedir({package_root!r}); "
                "runpy.run_module('server.job_runner', run_name='__main__', alter_sys=True)")
        return [sys.executable, "-I", "-S", "-c", code]
    return [sys.executable, "-m", "server.job_runner"]


class SubprocessRunner:
    """Runs each job as ``python -m server.job_runner <job dir>`` (a crash fails that job alone)."""

    def start(self, job_dir: Path, device: str, cache_dir: Path) -> SubprocessHandle:
        env = dict(os.environ)
        single_thread_blas(env)  # the job process's numpy: see eamm_core.runtime
        package_root = str(Path(server.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        args = [*job_python(package_root), str(job_dir), "--cache", str(cache_dir), "--device", device]
        log_file = open(job_dir / "runner.log", "ab")
        try:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                    cwd=str(job_dir), env=env, bufsize=0)
        except BaseException:
            log_file.close()
            raise
        return SubprocessHandle(proc, log_file)


class Worker(threading.Thread):
    """Takes jobs from the manager's queue and runs them on one device, one at a time."""

    def __init__(self, manager: JobManager, device: str, runner: Runner, cache_dir: Path):
        super().__init__(name=f"eamm-worker-{device}", daemon=True)
        self.manager = manager
        self.device = device
        self.runner = runner
        self.cache_dir = cache_dir

    def run(self) -> None:
        while True:
            rec = self.manager.next_job(self.device)
            if rec is None:
                return
            try:
                self._run_one(rec.id)
            except Exception:  # a broken job must not stop the worker
                log.exception("job %s could not be run", rec.id)
                self.manager.finish(rec.id, None, {"message": "the job could not be started; see the server log"}, None)

    def _run_one(self, job_id: str) -> None:
        handle = self.runner.start(self.manager.job_dir(job_id), self.device, self.cache_dir)
        self.manager.attach(job_id, handle)
        result = error = None
        for message in handle.messages():
            kind = message.get("type")
            if kind == "progress":
                self.manager.on_progress(job_id, str(message.get("stage")), int(message.get("done", 0)),
                                         int(message.get("total", 0)))
            elif kind == "result":
                result = message
            elif kind == "error":
                error = message
        code = handle.wait()
        self.manager.finish(job_id, result, error, code)


def detect_devices() -> tuple[list[str], str]:
    """(devices to run workers on, a name for /health): every CUDA GPU, else the CPU."""
    try:
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
            return [f"cuda:{i}" for i in range(count)], ", ".join(names)
    except Exception as exc:  # noqa: BLE001 - no torch or a broken driver: run on the CPU
        log.info("no GPU used: %s", exc)
    return ["cpu"], "cpu"
