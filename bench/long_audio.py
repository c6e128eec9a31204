"""Long speech: peak memory and motion-stage time of ``eamm generate`` for 1, 10 and 60 minutes.

The speech is built in a temporary folder from ``samples/speech.wav``, repeated with a varied gain and
varied pauses (nothing big is stored in the repository). Each length runs ``eamm generate`` with a
short ``--frame-end`` (the motion stage covers the whole audio whatever the frame range) in a fresh
process with no stage cache, and prints the motion stage's time (from the manifest) and the process's
peak resident memory (its own ``VmHWM``), and that peak as a multiple of the first
(shortest) length's, measured in the same run: linear memory keeps it far below the ratio of lengths. A run whose resident memory passes ``--cap-gb``
is stopped and reported as over the cap.

    .venv/bin/python bench/long_audio.py                      # 1, 10, 60 min, preset happy
    .venv/bin/python bench/long_audio.py --minutes 1 10 --emotion ../shared/fixtures/emotion/happy.mp4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "speech.wav"


def make_long_speech(path: Path, minutes: float, seed: int = 0) -> float:
    """Write ``minutes`` of 16 kHz 16-bit speech: the sample repeated with gains 0.5-1.0 and pauses of
    0.1-0.8 s between repeats. Written block by block (bounded memory). Returns the seconds written."""
    speech, rate = soundfile.read(str(SAMPLE), dtype="int16")
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * rate)
    written = 0
    with soundfile.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as fh:
        while written < total:
            block = (speech * rng.uniform(0.5, 1.0)).astype(np.int16)
            block = np.concatenate([block, np.zeros(int(rng.uniform(0.1, 0.8) * rate), np.int16)])
            block = block[:total - written]
            fh.write(block)
            written += len(block)
    return written / rate


def _peak_rss_of(proc: subprocess.Popen, cap_bytes: int) -> tuple[int, int, bool]:
    """Wait for ``proc`` (polling its memory, killing it past ``cap_bytes``): (returncode, peak RSS bytes,
    killed). The peak is the process's own high-water mark (``VmHWM``, polled every 20 ms): Linux's
    ``ru_maxrss`` also counts the parent's resident memory at the fork, so a big parent (a test runner)
    would inflate it."""
    killed, peak = False, 0
    status_file = Path(f"/proc/{proc.pid}/status")
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, peak, killed
        try:
            fields = {line.split(":")[0]: int(line.split()[1]) * 1024
                      for line in status_file.read_text().splitlines() if line.startswith(("VmRSS:", "VmHWM:"))}
        except (OSError, ValueError, IndexError):
            fields = {}
        peak = max(peak, fields.get("VmHWM", 0))
        if fields.get("VmRSS", 0) > cap_bytes and not killed:
            proc.kill()
            killed = True
        time.sleep(0.02)


def run_one(audio: Path, out: Path, cache: Path, emotion: str, frame_end: int, cap_gb: float,
            extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "eamm_core", "generate", "--portrait", str(ROOT / "samples" / "astronaut.png"),
           "--audio", str(audio), "--emotion", emotion, "--out", str(out), "--frame-end", str(frame_end),
           "--cache-dir", str(cache), "--quiet", "--no-mp4", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(ROOT))
    rc, peak, killed = _peak_rss_of(proc, int(cap_gb * 2**30))
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
    manifest = out / "manifest.json"
    timings = json.loads(manifest.read_text()).get("timings_s", {}) if manifest.is_file() else {}
    return {"rc": rc, "peak_rss_gb": peak / 2**30, "killed": killed, "wall_s": wall,
            "motion_s": timings.get("motion"), "prepare_s": timings.get("prepare"), "last_error": err[-1] if (rc and err) else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    ap.add_argument("--emotion", default=str(ROOT / "samples" / "happy.npz"))
    ap.add_argument("--frame-end", type=int, default=25)
    ap.add_argument("--cap-gb", type=float, default=6.0, help="stop a run whose RSS passes this")
    ap.add_argument("--transcript", help="passed to eamm generate")
    args = ap.parse_args()
    extra = ["--transcript", args.transcript] if args.transcript else []
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; emotion {Path(args.emotion).name}, "
          f"--frame-end {args.frame_end}")
    print(f"{'minutes':>8} {'motion s':>9} {'wall s':>8} {'peak RSS GB':>12} {'x first':>8}  note")
    first = None
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory(prefix="eamm-long-") as tmp:
            tmp = Path(tmp)
            audio = tmp / "speech.wav"
            make_long_speech(audio, minutes)
            r = run_one(audio, tmp / "out", tmp / "cache", args.emotion, args.frame_end, args.cap_gb, extra)
        note = f"over the {args.cap_gb:g} GB cap, stopped" if r["killed"] else (r["last_error"] or "ok")
        motion = f"{r['motion_s']:.1f}" if r["motion_s"] is not None else "-"
        first = first or r["peak_rss_gb"]
        ratio = r["peak_rss_gb"] / first  # memory against the first (shortest) length, same run
        print(f"{minutes:>8g} {motion:>9} {r['wall_s']:>8.1f} {r['peak_rss_gb']:>12.2f} {ratio:>8.2f}  {note}", flush=True)


if __name__ == "__main__":
    main()
