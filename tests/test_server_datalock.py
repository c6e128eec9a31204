"""One eamm-server per data folder: a second one exits 2 with one line naming the
running one (host, pid, URL); a lock left by a killed server is taken over."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from server_harness import REPO, ServerProcess, free_port

pytest.importorskip("fastapi")


def _second_server(data_dir, token_file) -> subprocess.CompletedProcess:
    env = {**os.environ, "EAMM_TOKEN_FILE": str(token_file), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "server.main", "--host", "127.0.0.1", "--port", str(free_port()),
           "--data", str(data_dir)]
    return subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=60)


def test_second_server_on_the_same_data_folder_exits_2_naming_the_first():
    with ServerProcess() as first:
        try:
            res = _second_server(first.data_dir, first.token_file)
        except subprocess.TimeoutExpired:
            pytest.fail("the second server kept running on the same data folder")
        assert res.returncode == 2, res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, res.stderr
        assert f"pid {first.proc.pid}" in lines[0] and first.url in lines[0] and str(first.data_dir) in lines[0]
        assert "Traceback" not in res.stderr
        assert first.proc.poll() is None  # the first one is untouched


def test_lock_of_a_killed_server_is_taken_over():
    first = ServerProcess().start()
    try:
        first.kill()
        assert (first.data_dir / "server.lock").exists()  # left behind by the killed process
        again = ServerProcess(first.data_dir, token_file=first.token_file).start()
        again.stop()
    finally:
        first.cleanup()


def test_the_app_says_which_server_holds_the_data_folder():
    from eamm_app.api import ApiError
    from eamm_app.local_server import LocalServer

    with ServerProcess() as first:
        local = LocalServer(free_port(), first.token_file, ["--data", str(first.data_dir)])
        with pytest.raises(ApiError, match=rf"in use by another eamm-server \(pid {first.proc.pid} "):
            local.start(timeout=60)
