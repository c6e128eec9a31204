"""Speed of a job with each landmark model (issue 20): prepare + motion + render, one run, ratio.

The job: ``samples/astronaut.png`` speaking ``fixtures/audio/speech_7s.wav`` with the emotion clip
``fixtures/emotion/happy.mp4`` (so the clip's landmark tracking is part of prepare), no stage cache,
frames only (no MP4). Each model's detector is loaded first (its load time printed apart), then the
two models' jobs alternate ``--rounds`` times on the same machine in the same process; the best
round of each counts. Prints each stage's seconds (from the job's manifest) and the ratio
mediapipe478 / dlib68 of prepare + motion + render (target <= 1.25).

    .venv/bin/python bench/landmark_models_speed.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared" / "fixtures"
PORTRAIT = REPO / "samples" / "astronaut.png"
AUDIO = SHARED / "audio" / "speech_7s.wav"
EMOTION = SHARED / "emotion" / "happy.mp4"
MODELS = ("dlib68", "mediapipe478")
STAGES = ("prepare", "motion", "render")
TARGET_RATIO = 1.25


def one_job(model: str, out: Path) -> dict:
    from eamm_core.job import JobSpec
    from eamm_core.pipeline import run_job

    spec = JobSpec(portrait=PORTRAIT, audio=AUDIO, emotion=EMOTION, landmarks=model, write_mp4=False)
    t0 = time.perf_counter()
    res = run_job(spec, out, use_cache=False, resume=False)
    wall = time.perf_counter() - t0
    timings = json.loads(res.manifest.read_text())["timings_s"]
    return {**{s: float(timings.get(s, 0.0)) for s in STAGES}, "job_wall": wall, "frames": res.frame_count}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not AUDIO.is_file():
        print(f"landmark_models_speed: {AUDIO} missing (needs ../shared/fixtures)", file=sys.stderr)
        return 2
    from eamm_core.prepare.landmark_models import landmarker

    for model in MODELS:
        t0 = time.perf_counter()
        landmarker(model)
        print(f"{model}: model load {time.perf_counter() - t0:.2f} s (once per process)")
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for model in MODELS:
                res = one_job(model, Path(tmp) / f"{model}_{r}")
                total = sum(res[s] for s in STAGES)
                print(f"round {r} {model}: " + ", ".join(f"{s} {res[s]:.2f}" for s in STAGES)
                      + f" -> prepare+motion+render {total:.2f} s ({res['frames']} frames, job {res['job_wall']:.2f} s)")
                if model not in best or total < best[model]["total"]:
                    best[model] = {**res, "total": total}
    ratio = best["mediapipe478"]["total"] / best["dlib68"]["total"]
    for model in MODELS:
        b = best[model]
        print(f"best {model}: prepare {b['prepare']:.2f} + motion {b['motion']:.2f} + render {b['render']:.2f} "
              f"= {b['total']:.2f} s")
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    print(f"ratio mediapipe478 / dlib68: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
