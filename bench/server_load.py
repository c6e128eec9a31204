"""How well ``eamm-server`` answers status polls while a job renders, and what that load costs the job.

Starts a real server (tests/server_harness.py) on a free loopback port, uploads the demo sample,
warms the stage cache with one job, then renders the same job (only the strength differs, so the
prepare and motion stages come from the cache and the time is the render) three times:

1. no load (baseline), 2. while N clients poll ``GET /v1/jobs/{id}`` as fast as they can,
3. no load again (so drift on a shared machine shows).

Prints status polls answered per second (and latency percentiles) during the loaded run, the job's
render time in each run (from the job's own ``started``/``finished`` times), and the slowdown as a
ratio against the mean of the two unloaded runs. Usage::

    .venv/bin/python bench/server_load.py [--clients 8] [--audio samples/speech.wav]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from server_harness import ServerProcess, upload, wait_for_state  # noqa: E402


def job_seconds(status: dict) -> float:
    start, end = datetime.fromisoformat(status["started"]), datetime.fromisoformat(status["finished"])
    return (end - start).total_seconds()


def run_job(client, ids: dict, strength: float) -> dict:
    job = client.post("/v1/jobs", json={**ids, "strength": strength, "outputs": ["frames"]}).json()
    status = wait_for_state(client, job["id"], timeout=1200, poll=0.5)
    if status["state"] != "done":
        raise SystemExit(f"job failed: {status}")
    return status


def loaded_run(srv, client, ids: dict, clients: int) -> tuple[dict, list[float], float]:
    """One job while ``clients`` threads poll its status; returns (status, latencies, polls/s)."""
    job = client.post("/v1/jobs", json={**ids, "strength": 0.5, "outputs": ["frames"]}).json()
    latencies: list[float] = []
    lock, stop = threading.Lock(), threading.Event()

    def poll():
        mine = []
        with srv.client(timeout=30) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                r = c.get(f"/v1/jobs/{job['id']}")
                mine.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"poll failed: {r.status_code} {r.text}")
                if r.json()["state"] in ("done", "failed", "cancelled"):
                    stop.set()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=poll) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    status = wait_for_state(client, job["id"], timeout=60)
    return status, latencies, len(latencies) / wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="polling clients during the loaded run")
    parser.add_argument("--portrait", type=Path, default=REPO / "samples" / "astronaut.png")
    parser.add_argument("--audio", type=Path, default=REPO / "samples" / "speech.wav")
    args = parser.parse_args(argv)
    with ServerProcess() as srv, srv.client(timeout=60) as client:
        ids = {"portrait": upload(client, args.portrait, "portrait")["id"],
               "audio": upload(client, args.audio, "audio")["id"]}
        warm = run_job(client, ids, 1.0)
        frames = warm["frames_total"]
        base1 = job_seconds(run_job(client, ids, 0.8))
        loaded, latencies, rate = loaded_run(srv, client, ids, args.clients)
        base2 = job_seconds(run_job(client, ids, 0.6))
    load_s, base = job_seconds(loaded), (base1 + base2) / 2
    lat = sorted(latencies)
    print(f"job: {frames} frames at 25 fps, landmark engine, prepare+motion cached")
    print(f"status polls answered while the job ran: {rate:.0f}/s from {args.clients} clients "
          f"({len(lat)} polls; latency median {statistics.median(lat) * 1000:.1f} ms, "
          f"p95 {lat[int(0.95 * (len(lat) - 1))] * 1000:.1f} ms)")
    print(f"job time: no load {base1:.2f} s and {base2:.2f} s, under load {load_s:.2f} s")
    print(f"slowdown under load: {load_s / base:.2f}x (loaded / mean of unloaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
