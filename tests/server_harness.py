"""Start a real ``eamm-server`` in a subprocess for tests (server, desktop app, Blender add-on).

Standard library only (``srv.client()`` and the job helpers need httpx), no pytest magic, so any
test suite can use it, including the Blender venvs (pass ``python=`` the main venv's interpreter,
e.g. ``$EAMM_MAIN_PYTHON``, since the server needs fastapi).
Import it as ``server_harness`` from tests under ``tests/`` (pytest puts that folder on
``sys.path``) or as ``tests.server_harness`` with the repository root on ``sys.path``::

    from server_harness import ServerProcess, upload, wait_for_state

    with ServerProcess() as srv:                 # free loopback port, temp data dir and token file
        client = srv.client()                    # httpx.Client with base_url and the bearer token
        portrait = upload(client, "face.png", "portrait")["id"]
        ...
        srv.kill()                               # SIGKILL (crash tests); srv.start() again on the same data

``ServerProcess(data_dir=..., token_file=..., args=[...], env={...})`` reuses folders when given
(restart tests). ``srv.url``, ``srv.token``, ``srv.headers``, ``srv.port`` and ``srv.log()`` (the
server's stderr) are there for clients that do not use httpx (``urllib`` in the add-on tests).
The server runs from this checkout (``python -m server.main``), with ``PYTHONPATH`` set to it.
Helpers for job tests: :func:`upload`, :func:`wait_for_state`, :func:`wait_for_frames`,
:func:`cut_wav` (a short WAV from a fixture), :func:`repeat_wav` (a long one, for jobs that
must still be running when a test cancels or kills them), :func:`runner_pid` / :func:`find_runner` (the pid of
a job's runner process, Linux only, for crash tests).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the harness itself is standard library only
    import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One ``eamm-server`` process on 127.0.0.1 with its own data folder and token file."""

    def __init__(self, data_dir: Path | None = None, *, token_file: Path | None = None, args: list[str] | None = None,
                 env: dict | None = None, port: int | None = None, python: str | None = None):
        self._tmp = None if data_dir is not None and token_file is not None else Path(tempfile.mkdtemp(prefix="eamm-srv-"))
        self.data_dir = Path(data_dir) if data_dir is not None else self._tmp / "data"
        self.token_file = Path(token_file) if token_file is not None else self._tmp / "token"
        self.args = list(args or [])
        self.env = dict(env or {})
        self.port = port
        self.python = python or sys.executable
        self.proc: subprocess.Popen | None = None
        self._log_path = (self._tmp or self.data_dir.parent) / f"server-{os.getpid()}-{id(self)}.log"

    # --- life cycle ---------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [self.python, "-m", "server.main", "--host", "127.0.0.1", "--port", str(self.port),
                "--data", str(self.data_dir), *self.args]

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start the server and wait until ``GET /health`` answers (a new port if the old one is taken)."""
        for attempt in range(3):
            if self.port is None or attempt:
                self.port = free_port()
            env = {**os.environ, "EAMM_TOKEN_FILE": str(self.token_file),
                   "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
                   **self.env}
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self._log_path, "ab")
            self.proc = subprocess.Popen(self.command(), cwd=str(REPO), env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
            log.close()
            if self._wait_healthy(timeout):
                return self
            if "address already in use" not in self.log().lower():
                break
        self.stop()
        raise RuntimeError(f"eamm-server did not start; its log:\n{self.log()[-4000:]}")

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2.0) as answer:
                    if answer.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        return False

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful: running jobs end ``interrupted``), then SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM if os.name == "posix" else signal.CTRL_BREAK_EVENT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (its job runners notice and stop on their own)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self) -> None:
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # --- access -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, timeout: float = 60.0) -> httpx.Client:
        import httpx

        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def log(self) -> str:
        try:
            return self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


# --- helpers for job tests ----------------------------------------------------------------------

def upload(client: httpx.Client, path: str | Path, role: str) -> dict:
    """Upload a file for ``role``; returns the answer (raises on an error status, with its detail)."""
    path = Path(path)
    with open(path, "rb") as fh:
        r = client.post("/v1/uploads", params={"role": role}, files={"file": (path.name, fh)})
    if r.status_code != 201:
        raise AssertionError(f"upload of {path.name} as {role}: {r.status_code} {r.text}")
    return r.json()


# the server's FINAL_STATES (server/jobs.py), spelled out: this file imports only the standard library;
# tests/test_server_openapi.py checks they agree
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")


def wait_for_state(client: httpx.Client, job_id: str, states=FINAL_STATES,
                   timeout: float = 300.0, poll: float = 0.2) -> dict:
    """Poll a job until its state is in ``states``; returns the status (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    status = {}
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status.get("state") in states:
            return status
        time.sleep(poll)
    raise AssertionError(f"job {job_id} not in {states} after {timeout:.0f} s: {status}")


def wait_for_frames(client: httpx.Client, job_id: str, frames: int, timeout: float = 300.0) -> dict:
    """Poll until at least ``frames`` frames are done (or the job ends)."""
    deadline = time.monotonic() + timeout
    status = {}
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status.get("frames_done", 0) >= frames or status.get("state") in FINAL_STATES:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} made fewer than {frames} frames in {timeout:.0f} s: {status}")


def cut_wav(src: str | Path, dst: str | Path, seconds: float, start: float = 0.0) -> Path:
    """Write the first ``seconds`` of a PCM WAV file (from ``start``) to ``dst`` (standard library only)."""
    with wave.open(str(src), "rb") as r:
        params = r.getparams()
        r.setpos(int(start * params.framerate))
        data = r.readframes(int(seconds * params.framerate))
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(data)
    return Path(dst)


def repeat_wav(src: str | Path, dst: str | Path, times: int) -> Path:
    """Write ``src`` (a PCM WAV) ``times`` times in a row to ``dst``: long jobs for cancel/crash tests."""
    with wave.open(str(src), "rb") as r:
        params = r.getparams()
        data = r.readframes(params.nframes)
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(data * times)
    return Path(dst)


def runner_pid(job_dir: str | Path) -> int | None:
    """The pid of the ``server.job_runner`` process working in ``job_dir`` (Linux ``/proc``), or None."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"server.job_runner" in cmd and str(job_dir).encode() in cmd:
                return int(entry.name)
    return None


def find_runner(client: httpx.Client, job_dir: str | Path, job_id: str) -> int:
    """The pid of a job's runner process, looked up while the job is queued or running."""
    while client.get(f"/v1/jobs/{job_id}").json()["state"] in ("queued", "running"):
        pid = runner_pid(job_dir)
        if pid is not None:
            return pid
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} ended before its runner process was seen")
