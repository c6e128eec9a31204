"""Make ``samples/speech.wav``: the demo's speech clip, synthesized by the project with espeak-ng.

English sentence with bilabials (P, B, M: the lips must close) and a pause in the middle, written as a
16 kHz mono 16-bit WAV of about 6 s. Needs the ``espeak-ng`` program (``apt-get install espeak-ng``).
espeak-ng's output is generated from rules, not recorded; the clip is the project's own (see
samples/README.md).

    .venv/bin/python scripts/make_sample_speech.py [--out samples/speech.wav]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

TEXT = (
    '<speak>Maybe Bob will bring a big map to the market. <break time="600ms"/> '
    "Please pass me the blue paper, and keep it by the window.</speak>"
)
VOICE = "en-us"
WORDS_PER_MINUTE = 165
SAMPLE_RATE = 16000


def synthesize(out: Path) -> float:
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng not found: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run([exe, "-m", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), TEXT], check=True)
        rate, data = wavfile.read(raw)
    x = data.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    g = np.gcd(rate, SAMPLE_RATE)
    y = resample_poly(x, SAMPLE_RATE // g, rate // g)
    y = np.trim_zeros(np.where(np.abs(y) < 2.0, 0.0, y), "b")  # drop espeak's trailing silence
    y = np.concatenate([np.zeros(int(0.25 * SAMPLE_RATE)), y, np.zeros(int(0.3 * SAMPLE_RATE))])
    y = y / max(1.0, np.abs(y).max()) * 0.8 * 32767
    out.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(out, SAMPLE_RATE, y.astype(np.int16))
    return len(y) / SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "samples" / "speech.wav")
    args = parser.parse_args()
    seconds = synthesize(args.out)
    print(f"wrote {args.out} ({seconds:.2f} s, {SAMPLE_RATE} Hz mono)")


if __name__ == "__main__":
    main()
