"""End to end: a job with ``engine="neural"`` and a converted synthetic (tiny) model on the repo's samples.

With synthetic weights the frames are noise-like; the test checks what must hold anyway: shapes, count,
MP4 + manifest, determinism, and that the emotion strength α changes the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, SAMPLE_SPEECH, sample_face_clip, sample_face_rgb
from neural_synthetic import make_tiny_model

from eamm_core.job import JobSpec

SECONDS = 1.5


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(2)
    from PIL import Image
    from scipy.io import wavfile

    base = tmp_path_factory.mktemp("neural_e2e")
    rate, data = wavfile.read(SAMPLE_SPEECH)
    wavfile.write(base / "speech.wav", rate, data[: int(SECONDS * rate)])
    Image.fromarray(sample_face_rgb()).save(base / "portrait.png")
    sample_face_clip(base / "emotion.mp4", 40)
    return base, make_tiny_model(base)


def _spec(base: Path, model: Path, strength: float) -> JobSpec:
    return JobSpec(portrait=base / "portrait.png", audio=base / "speech.wav",
                   emotion=base / "emotion.mp4", strength=strength,
                   engine="neural", model_dir=model, device="cpu", seed=1)


def _frames(result) -> np.ndarray:
    import imageio.v2 as imageio

    return np.stack([imageio.imread(p) for p in sorted(Path(result.frames_dir).glob("frame_*.png"))])


@pytest.fixture(scope="module")
def runs(setup):
    from eamm_core.pipeline import run_job

    base, model = setup
    cache = base / "cache"
    a = run_job(_spec(base, model, 1.0), base / "a", cache_dir=cache)
    b = run_job(_spec(base, model, 1.0), base / "b", use_cache=False)
    c = run_job(_spec(base, model, 0.0), base / "c", cache_dir=cache)
    return a, b, c


def test_writes_frames_mp4_and_manifest(runs):
    a, _, _ = runs
    frames = _frames(a)
    # one window per 25 fps frame: 4 MFCC rows per frame, 0.12 s padding each side minus 6 edge windows
    assert abs(len(frames) - SECONDS * 25) <= 1 and len(frames) == a.frame_count
    assert frames.shape[1:] == (256, 256, 3) and frames.dtype == np.uint8
    assert frames.std() > 1  # not a constant image
    assert a.mp4 is not None and Path(a.mp4).stat().st_size > 1000
    manifest = json.loads(Path(a.manifest).read_text())
    assert manifest["engine"]["engine"] == "neural" and manifest["engine"]["model_config"] == "tiny"


def test_deterministic_without_cache(runs):
    a, b, _ = runs
    np.testing.assert_array_equal(_frames(a), _frames(b))


def test_strength_changes_the_output(runs):
    a, _, c = runs
    fa, fc = _frames(a), _frames(c)
    assert fa.shape == fc.shape
    assert np.abs(fa.astype(int) - fc).max() > 0


def test_resume_renders_only_missing_frames_identically(setup, runs):
    from eamm_core.pipeline import run_job

    base, model = setup
    a = runs[0]
    before = _frames(a)
    gone = sorted(Path(a.frames_dir).glob("frame_*.png"))[5:9]
    for p in gone:
        p.unlink()
    again = run_job(_spec(base, model, 1.0), base / "a", cache_dir=base / "cache")
    np.testing.assert_array_equal(_frames(again), before)


def test_cli_generate_neural(setup, tmp_path):
    if not (REPO / "eamm_core" / "cli" / "generate.py").exists():
        pytest.skip("eamm generate is not built in this checkout yet")
    base, model = setup
    import argparse

    from eamm_core.cli import generate

    sub = argparse.ArgumentParser().add_subparsers()
    generate.add_parser(sub)
    options = {o for a in sub.choices["generate"]._actions for o in a.option_strings}
    flag = "--model" if "--model" in options else "--model-dir"
    args = [sys.executable, "-m", "eamm_core", "generate", "--engine", "neural", flag, str(model),
            "--portrait", str(base / "portrait.png"), "--audio", str(base / "speech.wav"),
            "--emotion", str(base / "emotion.mp4"), "--out", str(tmp_path / "out"),
            "--device", "cpu"]
    res = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=600,
                         env={**__import__("os").environ, "EAMM_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "out" / "frames").glob("frame_*.png"))) > 30
    assert (tmp_path / "out" / "result.mp4").exists()
    no_model = [str(tmp_path / "no_model") if a == str(model) else str(tmp_path / "o2") if a == str(tmp_path / "out")
                else a for a in args]
    missing = subprocess.run(no_model,
                             capture_output=True, text=True, cwd=REPO, timeout=600)
    assert missing.returncode != 0 and "convert-checkpoint" in missing.stderr and "Traceback" not in missing.stderr


def test_a_larger_size_is_enlarged_and_says_so(setup, tmp_path):
    """The networks work at 256: --size 512 gives 512 px frames enlarged with Lanczos-4, one warning
    line and the native size in the manifest; the default (auto) stays at 256."""
    from dataclasses import replace

    from eamm_core.pipeline import run_job

    base, model = setup
    spec = replace(_spec(base, model, 1.0), size="512", frame_end=3, write_mp4=False)
    result = run_job(spec, tmp_path / "big", cache_dir=base / "cache")
    frames = _frames(result)
    assert frames.shape[1:] == (512, 512, 3)
    manifest = json.loads(Path(result.manifest).read_text())
    assert manifest["frame_size"]["engine_native"] == 256 and manifest["frame_size"]["output"] == 512
    notes = [w for w in result.warnings if "Lanczos" in w]
    assert len(notes) == 1 and "256" in notes[0]
    auto = run_job(replace(spec, size="auto"), tmp_path / "auto", cache_dir=base / "cache")
    assert _frames(auto).shape[1:] == (256, 256, 3) and not any("Lanczos" in w for w in auto.warnings)
