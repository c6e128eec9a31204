"""The Blender extension's bundled server against the project venv's: setup, start and the first 7 s job.

    .venv/bin/python bench/bundled_server.py [--zip dist/eamm_talking_faces-0.1.0-linux_x64.zip] [--shared ../shared] [--landmarks dlib68|mediapipe478]

Unpacks the platform zip's payload as the add-on does at first use (blender_addon/bundled.py), then for
each of the two servers (bundled: ``python -I -S run_server.py``, only the payload on its path; venv:
``python -m server.main`` with the project venv) starts it with a fresh data folder and token file and
times: start → /health answering; the first landmark job of the 7 s sample (speech_7s.wav, 175 frames,
portrait 7.png), uploads + submit → done. Both servers run with this Python; one run each (cold), in
the same process, so the ratios compare them on the same machine at the same moment.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_addon import bundled
from blender_addon.client import Client, ClientError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(args: list[str], tmp: Path, shared: Path, landmarks: str) -> dict:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "EAMM_"))}
    env["EAMM_TOKEN_FILE"] = str(tmp / "token")
    t0 = time.monotonic()
    with open(tmp / "server.log", "ab") as log:
        proc = subprocess.Popen([*args, "--port", str(port), "--data", str(tmp / "data"), "--watch-stdin"],
                                env=env, cwd=str(tmp), stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        os.environ["EAMM_TOKEN_FILE"] = env["EAMM_TOKEN_FILE"]
        client = Client(f"http://127.0.0.1:{port}")
        while True:
            try:
                client.health()
                break
            except ClientError:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited; see {tmp / 'server.log'}") from None
                time.sleep(0.05)
        start_s = time.monotonic() - t0
        t1 = time.monotonic()
        audio = client.upload(shared / "fixtures" / "audio" / "speech_7s.wav", "audio")
        portrait = client.upload(shared / "fixtures" / "portraits" / "7.png", "portrait")
        status = client.submit({"engine": "landmark", "audio": audio["id"], "portrait": portrait["id"],
                                "frame_end": 175, "landmarks": landmarks})
        while status["state"] not in ("done", "failed", "cancelled", "interrupted"):
            time.sleep(0.1)
            status = client.status(status["id"])
        if status["state"] != "done":
            raise SystemExit(f"job {status['state']}: {status.get('error')}")
        return {"start_s": start_s, "job_s": time.monotonic() - t1, "frames": status["frames_done"]}
    finally:
        proc.stdin.close()
        proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zip", type=Path, default=REPO / "dist" / "eamm_talking_faces-0.1.0-linux_x64.zip")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    p.add_argument("--landmarks", default="dlib68", choices=("dlib68", "mediapipe478"), help="the jobs' landmark model")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="eamm-bundled-bench-") as tmp_name:
        tmp = Path(tmp_name)
        ext = tmp / "ext"
        with zipfile.ZipFile(args.zip) as zf:
            zf.extractall(ext, [n for n in zf.namelist() if n.startswith("payload/")])
        bundled.PAYLOAD = ext / "payload"
        bundled.info.cache_clear()
        t0 = time.monotonic()
        bundled.ensure(tmp / "user")
        setup_s = time.monotonic() - t0
        size = sum(f.stat().st_size for f in (tmp / "user").rglob("*") if f.is_file())
        results = {}
        for name, cmd in (("bundled", bundled.server_args(tmp / "user")[:4]),
                          ("venv", [sys.executable, "-m", "server.main"])):
            (tmp / name).mkdir()
            results[name] = run_server(cmd, tmp / name, args.shared, args.landmarks)
    print(f"landmarks {args.landmarks}")
    print(f"zip {args.zip.name}: {args.zip.stat().st_size / 1e6:.0f} MB; first-use setup {setup_s:.1f} s "
          f"({size / 1e6:.0f} MB unpacked)")
    for name, r in results.items():
        print(f"{name:8s} server start {r['start_s']:.2f} s · first 7 s job ({r['frames']} frames) {r['job_s']:.2f} s")
    b, v = results["bundled"], results["venv"]
    print(f"bundled/venv: start ×{b['start_s'] / v['start_s']:.2f}, job ×{b['job_s'] / v['job_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
