"""The curl sequence in docs/server.md runs a job on the demo sample and downloads the MP4."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from server_harness import ServerProcess

REPO = Path(__file__).resolve().parents[1]


def demo_block() -> str:
    text = (REPO / "docs" / "server.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- demo-curl[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert match, "docs/server.md lost its demo-curl block"
    return match.group(1)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_documented_curl_sequence_makes_the_demo_mp4(tmp_path):
    for name in ("astronaut.png", "speech.wav", "happy.npz"):
        assert (REPO / "samples" / name).is_file(), f"samples/{name} is missing"
    (tmp_path / "samples").symlink_to(REPO / "samples")
    with ServerProcess() as srv:
        env = {**os.environ, "EAMM_URL": srv.url, "EAMM_TOKEN_FILE": str(srv.token_file)}
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", demo_block()], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    events = [line for line in proc.stdout.splitlines() if line.startswith("data: ")]
    assert events and '"state": "done"' in events[-1]
    mp4 = tmp_path / "result.mp4"
    assert mp4.stat().st_size > 10000 and mp4.read_bytes()[4:8] == b"ftyp"
