"""The OpenJD job template farm/openjd/eamm_generate.yaml, run by the OpenJD runtime (openjd-cli,
a pinned test dependency) on this machine: motion -> render chunks -> assemble, compared with a
one-process ``eamm generate``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from eamm_core.output import probe_video

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "farm" / "openjd" / "eamm_generate.yaml"
BIN = Path(sys.executable).parent
PORTRAIT = REPO / "samples" / "astronaut.png"


def _openjd() -> Path:
    exe = BIN / "openjd"
    if not exe.exists():
        pytest.skip("openjd-cli is not installed in this environment (requirements/main.txt pins it)")
    return exe


def clip_12s(folder: Path) -> Path:
    """~12 s of speech: the sample, then its first 5.2 s again."""
    sr, x = wavfile.read(REPO / "samples" / "speech.wav")
    path = folder / "speech_12s.wav"
    wavfile.write(path, sr, np.concatenate([x, x[: int(sr * 5.2)]]))
    return path


def test_template_passes_openjd_check():
    proc = subprocess.run([str(_openjd()), "check", str(TEMPLATE)], capture_output=True, text=True)
    assert proc.returncode == 0 and "passes validation" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
def test_openjd_run_matches_one_process_generate(tmp_path):
    audio = clip_12s(tmp_path)
    out, ref = tmp_path / "farm_out", tmp_path / "one_process"
    params = {"Portrait": PORTRAIT, "Audio": audio, "Emotion": "happy", "Strength": "0.7", "OutputDir": out,
              "FrameCount": 300, "ChunkSize": 40, "EammCommand": BIN / "eamm", "CacheDir": tmp_path / "shared_cache"}
    args = [str(_openjd()), "run", str(TEMPLATE), "--step", "Assemble", "--run-dependencies"]
    for name, value in params.items():
        args += ["-p", f"{name}={value}"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0 and "Session ended successfully" in proc.stdout, proc.stdout[-3000:] + proc.stderr

    one = subprocess.run([str(BIN / "eamm"), "generate", "--portrait", str(PORTRAIT), "--audio", str(audio),
                          "--emotion", "happy", "--strength", "0.7", "--out", str(ref), "--quiet",
                          "--cache-dir", str(tmp_path / "own_cache")], capture_output=True, text=True)
    assert one.returncode == 0, one.stderr

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "done" and manifest["frame_count"] == 300 and manifest["mp4"] == "result.mp4"
    assert manifest["job_key"] == json.loads((ref / "manifest.json").read_text())["job_key"]
    records = [json.loads(p.read_text()) for p in (out / "chunks").glob("*.json")]
    rendering = [r for r in records if r["frame_end"] > r["frame_start"]]
    assert len(rendering) >= 3 and all(r["done"] and r["job_key"] == manifest["job_key"] for r in records)
    assert all(r["frame_end"] - r["frame_start"] <= 40 for r in rendering)
    names = sorted(p.name for p in (ref / "frames").glob("frame_*.png"))
    assert len(names) == 300 and names == sorted(p.name for p in (out / "frames").glob("frame_*.png"))
    different = [n for n in names if (out / "frames" / n).read_bytes() != (ref / "frames" / n).read_bytes()]
    assert not different, f"{len(different)} frames differ, first {different[:3]}"
    info = probe_video(out / "result.mp4")
    assert info.has_audio and info.frames == 300
