"""A real eamm-server (``<main python> -m server.main``) on a free loopback port, standard library only
(the bpy venvs have no httpx, so tests/server_harness.py is not used here)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RealServer:
    """A real eamm-server (``$EAMM_MAIN_PYTHON -m server.main``) on a free loopback port."""

    def __init__(self, python: str):
        self.tmp = Path(tempfile.mkdtemp(prefix="eamm-bl-srv-"))
        self.token_file = self.tmp / "token"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "server.log"
        env = {**os.environ, "EAMM_TOKEN_FILE": str(self.token_file),
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([python, "-m", "server.main", "--host", "127.0.0.1", "--port", str(self.port),
                                          "--data", str(self.tmp / "data")], cwd=str(REPO), env=env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._wait(120.0)

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    json.loads(r.read())
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"eamm-server did not start; log:\n{self.log()[-3000:]}")

    @property
    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
