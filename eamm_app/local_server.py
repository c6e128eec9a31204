"""Find the server, or start a local one (blocking: call :func:`connect` from a worker thread).

When nothing answers ``/health`` at a loopback URL, the app starts ``python -m server.main --port P``
with the same interpreter and ``EAMM_TOKEN_FILE`` set to the token file the app reads, waits for
``/health`` and stops that process again when the app quits. A remote URL is never auto-started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from eamm_app.api import ApiClient, ApiError, Health

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
REPO = Path(__file__).resolve().parents[1]


class LocalServer:
    """An ``eamm-server`` child process started by the app."""

    def __init__(self, port: int, token_file: Path, extra_args: list[str] | None = None):
        self.port, self.token_file = int(port), Path(token_file)
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"eamm-app-server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Health:
        env = {**os.environ, "EAMM_TOKEN_FILE": str(self.token_file),
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
        cmd = [sys.executable, "-m", "server.main", "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT)
        probe = ApiClient(self.url, timeout=2.0)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ApiError(f"the local eamm-server exited (status {self.proc.returncode}): "
                                   f"{self._last_log_line()}; see {self.log_path}")
                try:
                    return probe.health()
                except ApiError:
                    time.sleep(0.25)
        finally:
            probe.close()
        self.stop()
        raise ApiError(f"the local eamm-server did not answer within {timeout:.0f} s; see {self.log_path}")

    def _last_log_line(self) -> str:
        """The server's last words (e.g. which server already uses the data folder)."""
        try:
            lines = [ln for ln in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1].split("eamm-server: ", 1)[-1][:300] if lines else "no log"

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM if os.name == "posix" else signal.CTRL_BREAK_EVENT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Connection:
    health: Health
    started: LocalServer | None  # the server the app started, to stop on exit


def connect(url: str, token_file: Path, *, autostart: bool = True, server_args: list[str] | None = None) -> Connection:
    """``/health`` at ``url``; when it does not answer and ``url`` is loopback, start a local server
    (with ``server_args`` added to its command line, e.g. ``["--data", DIR]``)."""
    probe = ApiClient(url, timeout=3.0)
    try:
        return Connection(probe.health(), None)
    except ApiError as exc:
        if exc.status is not None:
            raise  # something answered: not ours to replace
        parsed = urlparse(url)
        if not autostart or parsed.hostname not in LOOPBACK:
            raise
        local = LocalServer(parsed.port or 8765, token_file, server_args)
        return Connection(local.start(), local)
    finally:
        probe.close()
