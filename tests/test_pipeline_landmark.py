"""The pipeline end to end with the default (landmark) engine on the repo's own sample, cut short."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from eamm_core.job import JobSpec
from eamm_core.output import probe_video, read_png
from eamm_core.pipeline import run_job

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"
SPEECH = REPO / "samples" / "speech.wav"
HAPPY = REPO / "samples" / "happy.npz"

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
SLOW_IMPORTS = ("numpy.ma", "importlib.metadata") if NUMPY2 else ("importlib.metadata",)

pytestmark = pytest.mark.skipif(not HAPPY.is_file(), reason="samples/happy.npz missing (make_emotion_preset.py)")


@pytest.fixture(scope="module")
def speech_2s(tmp_path_factory) -> Path:
    rate, data = wavfile.read(SPEECH)
    path = tmp_path_factory.mktemp("audio") / "speech_2s.wav"
    wavfile.write(path, rate, data[: 2 * rate])
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def frames_of(out: Path) -> dict[int, np.ndarray]:
    return {int(p.stem.split("_")[1]): read_png(p) for p in sorted((out / "frames").glob("frame_*.png"))}


def job(audio: Path, **kw) -> JobSpec:
    return JobSpec(**{"portrait": PORTRAIT, "audio": audio, "emotion": HAPPY, "strength": 1.0, "seed": 0, **kw})


def test_emotion_strength_zero_is_no_emotion_and_one_changes_the_upper_face(speech_2s, cache_dir, tmp_path):
    one = run_job(job(speech_2s, strength=1.0), tmp_path / "one", cache_dir=cache_dir, resume=False)
    zero = run_job(job(speech_2s, strength=0.0), tmp_path / "zero", cache_dir=cache_dir, resume=False)
    none = run_job(job(speech_2s, emotion=None), tmp_path / "none", cache_dir=cache_dir, resume=False)
    assert one.frame_count == zero.frame_count == none.frame_count == 49
    f1, f0, fn = frames_of(one.out_dir), frames_of(zero.out_dir), frames_of(none.out_dir)
    assert all(np.array_equal(f0[i], fn[i]) for i in fn)
    # the happy preset moves brows/eyes: rows 60..130 of the crop (eyes ~ y 100) differ visibly
    diff = np.mean([np.abs(f1[i][60:130].astype(int) - f0[i][60:130].astype(int)).mean() for i in f1])
    assert diff > 0.3
    assert zero.cached_stages == ["crop", "audio", "motion", "emotion"]
    info = probe_video(one.mp4)
    assert (info.codec, info.pix_fmt, info.fps, info.frames, info.has_audio) == ("h264", "yuv420p", 25.0, 49, True)


def test_mouth_moves_with_the_speech(speech_2s, cache_dir, tmp_path):
    res = run_job(job(speech_2s, emotion=None, frame_end=45), tmp_path / "o", cache_dir=cache_dir)
    frames = frames_of(res.out_dir)
    mouth = np.stack([frames[i][170:215, 90:166].astype(np.float32) for i in sorted(frames)])
    change = np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2, 3))
    assert change.max() > 2.0 and (change > 0.5).sum() >= 10  # the mouth region changes over many frames


def test_same_seed_gives_identical_frames(speech_2s, tmp_path):
    a = run_job(job(speech_2s, seed=5, frame_end=20), tmp_path / "a", use_cache=False)
    b = run_job(job(speech_2s, seed=5, frame_end=20), tmp_path / "b", use_cache=False)
    fa, fb = frames_of(a.out_dir), frames_of(b.out_dir)
    assert len(fa) == 20 and all(np.array_equal(fa[i], fb[i]) for i in fa)
    assert json.loads(a.manifest.read_text())["job_key"] == json.loads(b.manifest.read_text())["job_key"]


def test_sigkill_of_eamm_generate_then_resume(speech_2s, cache_dir, tmp_path):
    out, ref = tmp_path / "out", tmp_path / "ref"
    base = [sys.executable, "-m", "eamm_core", "generate", "--portrait", str(PORTRAIT), "--audio", str(SPEECH),
            "--emotion", str(HAPPY), "--frame-end", "120", "--cache-dir", str(cache_dir), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(base + ["--out", str(ref)], env=env, check=True, capture_output=True)  # also fills the cache
    proc = subprocess.Popen(base + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "frames").glob("frame_*.png"))) < 5:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "frames").glob("frame_*.png")}
    if len(before) >= 120:
        pytest.skip("the job finished before it could be killed (machine too fast for this check)")
    assert sorted(before) == [f"frame_{i:06d}.png" for i in range(len(before))]  # a prefix, nothing lost
    assert not (out / "result.mp4").exists()
    done = subprocess.run(base + ["--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / "frames").glob("frame_*.png")}
    kept = [n for n in before if after[n] == before[n]]
    assert len(kept) >= len(before) - 1  # at most the frame being written at the kill is redone
    a, b = frames_of(out), frames_of(ref)
    assert sorted(a) == list(range(120)) and all(np.array_equal(a[i], b[i]) for i in b)
    assert json.loads((out / "manifest.json").read_text())["state"] == "done"
    assert probe_video(out / "result.mp4").frames == 120


def test_manifest_names_the_emotion_reference_also_from_the_cache(speech_2s, cache_dir, tmp_path):
    first = run_job(job(speech_2s, strength=0.7, frame_end=3), tmp_path / "a", cache_dir=cache_dir)
    second = run_job(job(speech_2s, strength=0.6, frame_end=3), tmp_path / "b", cache_dir=cache_dir)
    ref_a = json.loads(first.manifest.read_text())["emotion_reference"]
    assert "emotion" in second.cached_stages
    assert ref_a.startswith("emotion preset happy") and json.loads(second.manifest.read_text())["emotion_reference"] == ref_a
    assert first.emotion_reference == second.emotion_reference == ref_a  # the result says it too (CLI summary)
    none = run_job(job(speech_2s, emotion=None, frame_end=2), tmp_path / "c", cache_dir=cache_dir)
    assert none.emotion_reference is None and "emotion_reference" not in json.loads(none.manifest.read_text())


def test_alpha_only_rerun_reuses_the_mesh_imports_nothing_heavy_and_gives_the_same_frames(speech_2s, tmp_path):
    cache = tmp_path / "cache"
    script = ("import sys, json; from pathlib import Path; from eamm_core.job import JobSpec; "
              "from eamm_core.pipeline import run_job; "
              f"r = run_job(JobSpec(portrait=Path({str(PORTRAIT)!r}), audio=Path({str(speech_2s)!r}), "
              f"emotion=Path({str(HAPPY)!r}), strength=float(sys.argv[1]), frame_end=4), "
              f"Path(sys.argv[2]), cache_dir=Path({str(cache)!r})); "
              "heavy = ('scipy', 'torch', 'librosa', 'pocketsphinx', 'dlib', 'skimage', 'imageio_ffmpeg'); "
              # each a 10-35 ms import a rerun has no use for (numpy 1.x imports numpy.ma with numpy itself)
              f"slow = {SLOW_IMPORTS!r}; "
              "print(json.dumps([r.cached_stages, sorted(m for m in sys.modules "
              "if m.split('.')[0] in heavy or m in slow)]))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = []
    for strength, out in (("1.0", tmp_path / "a"), ("0.4", tmp_path / "b")):
        proc = subprocess.run([sys.executable, "-c", script, strength, str(out)], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    (first_cached, first_heavy), (second_cached, second_heavy) = runs
    assert first_cached == [] and "scipy.spatial" in first_heavy  # the first run triangulates the mesh
    assert second_cached == ["crop", "audio", "motion", "emotion"] and second_heavy == []  # no scipy, torch, dlib, numpy.ma…
    assert len(list((cache / "render_setup").glob("*.npz"))) == 1
    fresh = run_job(job(speech_2s, strength=0.4, frame_end=4, write_mp4=False), tmp_path / "c", use_cache=False)
    b, c = frames_of(tmp_path / "b"), frames_of(tmp_path / "c")
    assert sorted(b) == sorted(c) == list(range(4)) and all(np.array_equal(b[i], c[i]) for i in c)
    assert fresh.cached_stages == []


def test_tongue_is_cached_with_the_motion_and_frames_match_computed_ones(speech_2s, tmp_path):
    cache = tmp_path / "cache"
    computed = run_job(job(speech_2s, emotion=None, frame_end=49), tmp_path / "a", cache_dir=cache)
    cached = run_job(job(speech_2s, emotion=None, frame_end=49), tmp_path / "b", cache_dir=cache, resume=False)
    assert "motion" not in computed.cached_stages and "motion" in cached.cached_stages
    (entry,) = (cache / "motion").glob("*.npz")
    with np.load(entry) as data:
        tongue = data["audio_tongue"]
    assert tongue.shape == (49,) and tongue.max() > 0.5 and tongue.min() < 0.1  # T/D/N/L in the speech
    fa, fb = frames_of(computed.out_dir), frames_of(cached.out_dir)
    assert len(fa) == 49 and all(np.array_equal(fa[i], fb[i]) for i in fa)
    strong = int(np.argmax(tongue))
    plain = run_job(job(speech_2s, emotion=None, frame_end=49), tmp_path / "c", use_cache=False)
    assert np.array_equal(frames_of(plain.out_dir)[strong], fa[strong])
