"""How well ``eamm-server`` answers status polls while a job renders, and what that load costs the job.

Starts a real server (tests/server_harness.py) on a free loopback port, uploads the demo sample,
warms the stage cache with one job, then renders the same job (only the strength differs, so the
prepare and motion stages come from the cache and the time is the render) alternately with no
load and while N clients poll ``GET /v1/jobs/{id}`` as fast as they can (base, load, base, load,
base with ``--repeats 2``), so drift on a shared machine shows.

Prints status polls answered per second (and latency percentiles) during the loaded runs, the
job's time in each run (from the job's own ``started``/``finished`` times: job process start plus
render), and the slowdown as a ratio of the mean loaded to the mean unloaded time. Usage::

    .venv/bin/python bench/server_load.py [--clients 8] [--repeats 2] [--audio samples/speech.wav]
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

from server_harness import ServerProcess, upload, wait_for_state

from server.jobs import FINAL_STATES


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
                if r.json()["state"] in FINAL_STATES:
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


def measure(srv, client, ids: dict, clients: int, repeats: int) -> dict:
    """Alternate unloaded and loaded runs: base, load, base, load, ..., base."""
    base, loaded, rates, latencies = [], [], [], []
    base.append(job_seconds(run_job(client, ids, 0.9)))
    for k in range(repeats):
        status, lat, rate = loaded_run(srv, client, ids, clients)
        loaded.append(job_seconds(status))
        rates.append(rate)
        latencies += lat
        base.append(job_seconds(run_job(client, ids, 0.8 - 0.1 * k)))
    return {"base": base, "loaded": loaded, "rates": rates, "latencies": sorted(latencies)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="polling clients during the loaded runs")
    parser.add_argument("--repeats", type=int, default=2, help="loaded runs (each between two unloaded ones)")
    parser.add_argument("--portrait", type=Path, default=REPO / "samples" / "astronaut.png")
    parser.add_argument("--audio", type=Path, default=REPO / "samples" / "speech.wav")
    args = parser.parse_args(argv)
    with ServerProcess() as srv, srv.client(timeout=60) as client:
        ids = {"portrait": upload(client, args.portrait, "portrait")["id"],
               "audio": upload(client, args.audio, "audio")["id"]}
        frames = run_job(client, ids, 1.0)["frames_total"]  # warm-up: fills the stage cache
        m = measure(srv, client, ids, args.clients, args.repeats)
    lat, base, loaded = m["latencies"], statistics.mean(m["base"]), statistics.mean(m["loaded"])
    print(f"job: {frames} frames at 25 fps, landmark engine, prepare+motion cached")
    print(f"status polls answered while the job ran: {statistics.mean(m['rates']):.0f}/s from {args.clients} "
          f"clients (runs: {', '.join(f'{r:.0f}' for r in m['rates'])}; {len(lat)} polls; latency median "
          f"{statistics.median(lat) * 1000:.1f} ms, p95 {lat[int(0.95 * (len(lat) - 1))] * 1000:.1f} ms)")
    print(f"job time (s): no load {', '.join(f'{t:.2f}' for t in m['base'])}; "
          f"under load {', '.join(f'{t:.2f}' for t in m['loaded'])}")
    print(f"slowdown under load: {loaded / base:.2f}x (mean loaded / mean unloaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
