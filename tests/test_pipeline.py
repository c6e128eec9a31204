"""The pipeline's own logic (caching, resume, cancel, manifest, MP4) with a small deterministic
test-double engine; the real engines are exercised in test_pipeline_landmark.py."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from eamm_core.engines import get_engine
from eamm_core.engines.base import EmotionResult, Engine
from eamm_core.errors import EammError, InputError
from eamm_core.job import JobSpec, Progress
from eamm_core.output import png_is_complete, probe_video, read_png
from eamm_core.pipeline import run_job
from eamm_core.types import EmotionPreset, Keypoints

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"
SPEECH = REPO / "samples" / "speech.wav"
#: 25 fps frames of the 1.6 s cut (floor(N/4) - 6 MFCC windows, N = rows at 100 Hz with 3 frames padding each side)
T = 39


class ToyEngine(Engine):
    """Deterministic synthetic frames: the crop tinted and shifted by the driving keypoints."""

    name = "toy"
    face_keypoints = (0, 1, 2)

    def __init__(self, options=None, delay_s: float = 0.0):
        super().__init__(options)
        self.delay_s = delay_s
        self.rendered: list[int] = []
        self.motion_calls = 0

    def describe(self) -> dict:
        return {"engine": self.name, "version": "1"}

    def source_keypoints(self, crop):
        return Keypoints(np.zeros((1, 10, 2), np.float32), np.tile(np.eye(2, dtype=np.float32), (1, 10, 1, 1)))

    def audio_keypoints(self, crop, audio, pose):
        self.motion_calls += 1
        t = audio.num_frames
        rng = np.random.default_rng(self.options.seed)
        value = np.zeros((t, 10, 2), np.float32)
        value[:, 5, 1] = audio.loudness * 0.5
        value += rng.normal(0, 0.05, value.shape).astype(np.float32)
        value[:, :, 0] += pose.values[:, 0:1] / 90.0
        return Keypoints(value, np.tile(np.eye(2, dtype=np.float32), (t, 10, 1, 1)))

    def emotion_result(self, emotion, kp_audio, crop, neutral=None):
        t = len(kp_audio)
        d = emotion.displacements
        idx = np.arange(t) % len(d)
        return EmotionResult(Keypoints(d.value[idx], d.jacobian[idx]))

    def render(self, crop, kp_source, kp_driving, indices):
        for i in indices:
            if self.delay_s:
                time.sleep(self.delay_s)
            v = kp_driving.value[i]
            frame = np.roll(crop.image, int(round(v[5, 1] * 40)), axis=0).astype(np.int16)
            frame[..., 0] += int(round(v[0, 0] * 60))
            frame[..., 2] += int(round(v[1, 1] * 60))
            self.rendered.append(int(i))
            yield int(i), np.clip(frame, 0, 255).astype(np.uint8)


def toy_preset(frames: int = 7) -> EmotionPreset:
    value = np.zeros((frames, 3, 2), np.float32)
    value[:, 0, 0] = np.linspace(0.2, 0.6, frames)
    value[:, 1, 1] = -0.4
    jac = np.zeros((frames, 3, 2, 2), np.float32)
    return EmotionPreset(name="toy", displacements=Keypoints(value, jac), sha256="x")


def cut_speech(folder: Path, seconds: float, name: str = "speech_cut.wav") -> Path:
    rate, data = wavfile.read(SPEECH)
    path = folder / name
    wavfile.write(path, rate, data[: int(seconds * rate)])
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("inputs")
    emotion = folder / "toy_emotion.npz"
    emotion.write_bytes(b"toy emotion preset bytes")  # hashed by the pipeline; loaded by the patch below
    return {"portrait": PORTRAIT, "audio": cut_speech(folder, 1.6), "emotion": emotion}


@pytest.fixture(autouse=True)
def _toy_emotion_loader(monkeypatch):
    """The pipeline loads `.npz` presets via eamm_core.presets; the toy preset stands in for it here."""
    from eamm_core import pipeline, stages

    monkeypatch.setattr(pipeline._JobRunner, "_load_emotion", lambda self, n: (toy_preset(), None))
    # other people edit the engines' code while these tests run; pin the code fingerprint
    monkeypatch.setattr(pipeline, "code_fingerprint", lambda *modules: "pinned")
    monkeypatch.setattr(stages, "code_fingerprint", lambda *modules: "pinned")


def frames_of(out: Path, sub: str = "frames") -> dict[int, np.ndarray]:
    return {int(p.stem.split("_")[1]): read_png(p) for p in sorted((out / sub).glob("frame_*.png"))}


def spec(inputs, **kw) -> JobSpec:
    base = dict(portrait=inputs["portrait"], audio=inputs["audio"], emotion=inputs["emotion"], strength=1.0, seed=3)
    base.update(kw)
    return JobSpec(**base)


def test_full_run_writes_frames_mp4_and_manifest(inputs, tmp_path):
    engine = ToyEngine()
    res = run_job(spec(inputs), tmp_path / "out", cache_dir=tmp_path / "cache", engine=engine)
    n = res.frame_count
    assert n == T and res.first_frame == 0 and not res.cancelled and res.cached_stages == []
    assert sorted(frames_of(tmp_path / "out")) == list(range(n))
    info = probe_video(res.mp4)
    assert (info.codec, info.pix_fmt, info.fps, info.frames) == ("h264", "yuv420p", 25.0, n)
    assert info.has_audio and info.audio_codec == "aac" and (info.width, info.height) == (256, 256)
    man = json.loads(res.manifest.read_text())
    assert man["state"] == "done" and man["frame_count"] == n and man["fps"] == 25
    assert man["inputs"]["portrait"]["sha256"] == hashlib.sha256(PORTRAIT.read_bytes()).hexdigest()
    assert man["inputs"]["audio"]["sha256"] == hashlib.sha256(inputs["audio"].read_bytes()).hexdigest()
    assert man["engine"] == {"engine": "toy", "version": "1"} and man["seed"] == 3
    assert man["parameters"]["strength"] == 1.0 and "numpy" in man["versions"]
    assert man["mp4"] == "result.mp4" and set(man["timings_s"]) >= {"prepare", "motion", "render", "encode"}


def test_only_alpha_changed_reuses_every_stage_before_the_render(inputs, tmp_path):
    cache = tmp_path / "cache"
    first = run_job(spec(inputs, strength=1.0), tmp_path / "a", cache_dir=cache, engine=ToyEngine())
    engine = ToyEngine()
    second = run_job(spec(inputs, strength=0.5), tmp_path / "b", cache_dir=cache, engine=engine)
    assert first.cached_stages == []
    assert second.cached_stages == ["crop", "audio", "motion", "emotion"]
    assert engine.motion_calls == 0 and len(engine.rendered) == second.frame_count
    fresh = run_job(spec(inputs, strength=0.5), tmp_path / "c", use_cache=False, engine=ToyEngine())
    b, c, a = frames_of(tmp_path / "b"), frames_of(tmp_path / "c"), frames_of(tmp_path / "a")
    assert all(np.array_equal(b[i], c[i]) for i in c)
    assert any(not np.array_equal(a[i], b[i]) for i in a)
    man = json.loads(second.manifest.read_text())
    assert man["cached_stages"] == ["crop", "audio", "motion", "emotion"]
    assert fresh.cached_stages == []


def test_pose_change_recomputes_motion_but_not_the_prepare(inputs, tmp_path):
    cache = tmp_path / "cache"
    run_job(spec(inputs), tmp_path / "a", cache_dir=cache, engine=ToyEngine())
    pose = np.tile(np.array([[20.0, 0, 0, 0.0005, 63, 72]], np.float32), (5, 1))
    res = run_job(spec(inputs, pose=pose), tmp_path / "b", cache_dir=cache, engine=ToyEngine())
    assert res.cached_stages == ["crop", "audio"]


def test_strength_zero_gives_the_frames_of_no_emotion(inputs, tmp_path):
    zero = run_job(spec(inputs, strength=0.0), tmp_path / "zero", use_cache=False, engine=ToyEngine())
    none = run_job(spec(inputs, emotion=None), tmp_path / "none", use_cache=False, engine=ToyEngine())
    a, b = frames_of(zero.out_dir), frames_of(none.out_dir)
    assert a.keys() == b.keys() and all(np.array_equal(a[i], b[i]) for i in a)


def test_same_seed_same_frames_other_seed_other_frames(inputs, tmp_path):
    r1 = run_job(spec(inputs, seed=7), tmp_path / "1", use_cache=False, engine=ToyEngine())
    r2 = run_job(spec(inputs, seed=7), tmp_path / "2", use_cache=False, engine=ToyEngine())
    r3 = run_job(spec(inputs, seed=8), tmp_path / "3", use_cache=False, engine=ToyEngine())
    f1, f2, f3 = frames_of(r1.out_dir), frames_of(r2.out_dir), frames_of(r3.out_dir)
    assert all(np.array_equal(f1[i], f2[i]) for i in f1)
    assert any(not np.array_equal(f1[i], f3[i]) for i in f1)


def test_cancel_keeps_frames_and_resume_finishes_without_loss_or_duplicates(inputs, tmp_path):
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.stage == "render" and p.done >= 10:
            cancel.set()

    out = tmp_path / "out"
    res = run_job(spec(inputs), out, cache_dir=tmp_path / "cache", cancel=cancel, progress=progress, engine=ToyEngine())
    kept = res.frame_count
    assert res.cancelled and 10 <= kept <= 10 + 8 and res.mp4 is None  # stops within one batch
    assert sorted(frames_of(out)) == list(range(kept))
    assert json.loads((out / "manifest.json").read_text())["state"] == "cancelled"
    assert {p.stage for p in seen} >= {"prepare", "motion", "render"}
    engine = ToyEngine()
    done = run_job(spec(inputs), out, cache_dir=tmp_path / "cache", engine=engine)
    assert engine.rendered == list(range(kept, done.frame_count)) and "frames" in done.cached_stages
    ref = run_job(spec(inputs), tmp_path / "ref", use_cache=False, engine=ToyEngine())
    a, b = frames_of(out), frames_of(ref.out_dir)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[i], b[i]) for i in b)
    assert probe_video(done.mp4).frames == ref.frame_count


def test_truncated_last_frame_is_rendered_again(inputs, tmp_path):
    out = tmp_path / "out"
    cancel = threading.Event()
    res = run_job(spec(inputs), out, cancel=cancel, use_cache=False, engine=ToyEngine(),
                  progress=lambda p: cancel.set() if p.stage == "render" and p.done >= 6 else None)
    last = out / "frames" / f"frame_{res.frame_count - 1:06d}.png"
    last.write_bytes(last.read_bytes()[:200])
    (out / "frames" / f".frame_{res.frame_count:06d}.png.abc.part").write_bytes(b"half")
    assert not png_is_complete(last)
    engine = ToyEngine()
    run_job(spec(inputs), out, use_cache=False, engine=engine)
    assert engine.rendered[0] == res.frame_count - 1 and png_is_complete(last)
    assert not list((out / "frames").glob("*.part"))


def test_other_job_in_the_folder_is_rendered_again_not_mixed(inputs, tmp_path):
    out = tmp_path / "out"
    run_job(spec(inputs, strength=1.0), out, use_cache=False, engine=ToyEngine())
    engine = ToyEngine()
    res = run_job(spec(inputs, strength=0.3, frame_start=4, frame_end=20), out, use_cache=False, engine=engine)
    assert engine.rendered == list(range(4, 20))
    assert sorted(frames_of(out)) == list(range(4, 20)) and res.first_frame == 4
    again = ToyEngine()
    run_job(spec(inputs, strength=0.3, frame_start=4, frame_end=20), out, use_cache=False, engine=again)
    assert again.rendered == []  # the same job: nothing left to render
    fresh = ToyEngine()
    run_job(spec(inputs, strength=0.3, frame_start=4, frame_end=20), out, use_cache=False, engine=fresh, resume=False)
    assert fresh.rendered == list(range(4, 20))


def test_frame_range_mp4_has_the_matching_audio(inputs, tmp_path):
    res = run_job(spec(inputs, frame_start=10, frame_end=30), tmp_path / "out", use_cache=False, engine=ToyEngine())
    assert res.frame_count == 20 and sorted(frames_of(res.out_dir)) == list(range(10, 30))
    info = probe_video(res.mp4)
    assert info.frames == 20 and abs(info.duration_s - 0.8) < 0.1
    man = json.loads(res.manifest.read_text())
    assert (man["frame_start"], man["frame_end"], man["frame_count"]) == (10, 30, 20)


def test_bad_inputs_are_one_line_errors(inputs, tmp_path):
    with pytest.raises(InputError, match="portrait file not found in nope.png"):
        run_job(spec(inputs, portrait=tmp_path / "nope.png"), tmp_path / "o1", use_cache=False, engine=ToyEngine())
    with pytest.raises(InputError, match="frame range 50..39 is empty") as info:
        run_job(spec(inputs, frame_start=50), tmp_path / "o2", use_cache=False, engine=ToyEngine())
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="not a finite number"):
        run_job(spec(inputs, strength=np.array([1.0, np.nan])), tmp_path / "o3", use_cache=False, engine=ToyEngine())


class FailingEngine(ToyEngine):
    def render(self, crop, kp_source, kp_driving, indices):
        for n, item in enumerate(super().render(crop, kp_source, kp_driving, indices)):
            if n == 5:
                raise EammError("the render ran out of memory")
            yield item


def test_error_mid_render_keeps_frames_and_records_the_failure(inputs, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(EammError, match="ran out of memory"):
        run_job(spec(inputs), out, use_cache=False, engine=FailingEngine())
    assert sorted(frames_of(out)) == list(range(5))
    man = json.loads((out / "manifest.json").read_text())
    assert man["state"] == "failed" and man["error"] == "the render ran out of memory" and man["frame_count"] == 5


def test_strength_curve_array_holds_its_last_value(inputs, tmp_path):
    curve = np.linspace(0.0, 1.0, 11, dtype=np.float32)  # 11 keys: frames 0..10, then 1.0
    res = run_job(spec(inputs, strength=curve), tmp_path / "a", use_cache=False, engine=ToyEngine())
    one = run_job(spec(inputs, strength=1.0), tmp_path / "b", use_cache=False, engine=ToyEngine())
    zero = run_job(spec(inputs, strength=0.0), tmp_path / "c", use_cache=False, engine=ToyEngine())
    a, b, c = frames_of(res.out_dir), frames_of(one.out_dir), frames_of(zero.out_dir)
    assert np.array_equal(a[0], c[0]) and all(np.array_equal(a[i], b[i]) for i in range(10, len(b)))
    assert len(json.loads(res.manifest.read_text())["parameters"]["strength"]) == len(b)


_KILL_SCRIPT = """
import sys, threading
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_pipeline import ToyEngine, toy_preset
from eamm_core import pipeline, stages
pipeline._JobRunner._load_emotion = lambda self, n: (toy_preset(), None)
pipeline.code_fingerprint = stages.code_fingerprint = lambda *modules: "pinned"
from eamm_core.job import JobSpec
spec = JobSpec(portrait=Path({portrait!r}), audio=Path({audio!r}), emotion=Path({emotion!r}), seed=3)
pipeline.run_job(spec, Path({out!r}), use_cache=False, engine=ToyEngine(delay_s=0.15))
"""


def test_sigkill_mid_render_then_resume_gives_identical_frames(inputs, tmp_path):
    out = tmp_path / "out"
    script = _KILL_SCRIPT.format(tests=str(REPO / "tests"), portrait=str(inputs["portrait"]),
                                 audio=str(inputs["audio"]), emotion=str(inputs["emotion"]), out=str(out))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "frames").glob("frame_*.png"))) < 8:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = sorted(frames_of(out))
    assert 8 <= len(written) < T and written == list(range(len(written)))
    engine = ToyEngine()
    res = run_job(spec(inputs), out, use_cache=False, engine=engine)
    assert engine.rendered == list(range(len(written), T)) and res.frame_count == T
    ref = run_job(spec(inputs), tmp_path / "ref", use_cache=False, engine=ToyEngine())
    a, b = frames_of(out), frames_of(ref.out_dir)
    assert sorted(a) == list(range(T)) and all(np.array_equal(a[i], b[i]) for i in b)



def test_paste_back_frames_and_mp4_at_full_resolution(inputs, tmp_path):
    out = tmp_path / "out"
    run_job(spec(inputs, frame_end=6), out, use_cache=False, engine=ToyEngine())
    assert not (out / "pasted").exists()
    engine = ToyEngine()
    res = run_job(spec(inputs, frame_end=6, paste_back=True), out, use_cache=False, engine=engine)
    assert engine.rendered == []  # the 256x256 frames were there: only pasted into the portrait
    pasted = frames_of(out, "pasted")
    assert sorted(pasted) == list(range(6)) and pasted[0].shape == (512, 512, 3)
    info = probe_video(res.mp4)
    assert (info.width, info.height, info.frames) == (512, 512, 6)
    fresh = run_job(spec(inputs, frame_end=6, paste_back=True), tmp_path / "fresh", use_cache=False, engine=ToyEngine())
    again = frames_of(fresh.out_dir, "pasted")
    assert all(np.array_equal(again[i], pasted[i]) for i in pasted)
    assert json.loads(res.manifest.read_text())["pasted"] == "pasted/frame_%06d.png"


def test_interrupted_new_job_over_an_old_one_never_mixes_frames(inputs, tmp_path):
    out = tmp_path / "out"
    run_job(spec(inputs, strength=1.0), out, use_cache=False, engine=ToyEngine())
    cancel = threading.Event()
    res = run_job(spec(inputs, strength=0.2), out, use_cache=False, engine=ToyEngine(), cancel=cancel,
                  progress=lambda p: cancel.set() if p.stage == "render" and p.done >= 5 else None)
    assert res.cancelled and sorted(frames_of(out)) == list(range(res.frame_count))
    assert not (out / "result.mp4").exists()  # the old job's video went with its frames
    run_job(spec(inputs, strength=0.2), out, use_cache=False, engine=ToyEngine())
    ref = run_job(spec(inputs, strength=0.2), tmp_path / "ref", use_cache=False, engine=ToyEngine())
    a, b = frames_of(out), frames_of(ref.out_dir)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[i], b[i]) for i in b)


def test_finished_job_run_again_renders_and_encodes_nothing(inputs, tmp_path):
    out = tmp_path / "out"
    first = run_job(spec(inputs, frame_end=8), out, use_cache=False, engine=ToyEngine())
    stamp = first.mp4.stat().st_mtime_ns
    engine = ToyEngine()
    again = run_job(spec(inputs, frame_end=8), out, use_cache=False, engine=engine)
    assert engine.rendered == [] and again.mp4 == first.mp4 and again.mp4.stat().st_mtime_ns == stamp
    assert "frames" in again.cached_stages and json.loads(again.manifest.read_text())["state"] == "done"


class ReversedEngine(ToyEngine):
    def render(self, crop, kp_source, kp_driving, indices):
        yield from super().render(crop, kp_source, kp_driving, list(indices)[::-1])


def test_frames_out_of_order_still_give_a_correct_mp4(inputs, tmp_path):
    rev = run_job(spec(inputs, frame_end=12), tmp_path / "rev", use_cache=False, engine=ReversedEngine())
    fwd = run_job(spec(inputs, frame_end=12), tmp_path / "fwd", use_cache=False, engine=ToyEngine())
    assert probe_video(rev.mp4).frames == 12

    def decoded(mp4):
        from eamm_core.ffmpeg import ffmpeg_exe

        raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(mp4), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             capture_output=True, check=True).stdout
        return np.frombuffer(raw, np.uint8).reshape(-1, 256, 256, 3)

    np.testing.assert_array_equal(decoded(rev.mp4), decoded(fwd.mp4))


def test_keyed_pose_curve_file_reaches_the_engine_in_3ddfa_units(inputs, tmp_path, monkeypatch):

    seen = {}
    original = ToyEngine.audio_keypoints

    def spy(self, crop, audio, pose):
        seen["pose"] = pose.values.copy()
        return original(self, crop, audio, pose)

    monkeypatch.setattr(ToyEngine, "audio_keypoints", spy)
    curve = tmp_path / "pose.json"
    curve.write_text(json.dumps({"keys": {"0": [0, 0, 0, 1, 0, 0], "10": [20, 0, 0, 1, 0, 0]}}))
    run_job(spec(inputs, pose=curve), tmp_path / "o", use_cache=False, engine=ToyEngine())
    pose = seen["pose"]
    assert pose.shape == (T, 6)
    np.testing.assert_allclose(pose[[0, 5, 10, T - 1], 0], [0, 10, 20, 20], atol=1e-4)  # held after the last key
    from eamm_core.geometry.pose_units import pose_from_artist

    np.testing.assert_allclose(pose[0, 3:], pose_from_artist(0, 0, 0)[0, 3:], rtol=1e-5)
    from eamm_core.curves import is_keyed_curve

    assert is_keyed_curve(curve)


def test_pose_array_of_the_wrong_shape_is_a_one_line_error(inputs, tmp_path):
    with pytest.raises(InputError, match=r"pose: pose array has shape \(2, 4\)"):
        run_job(spec(inputs, pose=np.zeros((2, 4), np.float32)), tmp_path / "o", use_cache=False, engine=ToyEngine())


def test_render_progress_is_reported_while_frames_reach_the_disk(inputs, tmp_path):
    """The server's progress bar and cancel-within-a-batch rely on per-frame render reports."""
    reports: list[Progress] = []
    res = run_job(spec(inputs, emotion=None), tmp_path / "out", progress=reports.append,
                  cache_dir=tmp_path / "cache", engine=get_engine("landmark"))
    render = [p.done for p in reports if p.stage == "render"]
    middle = [d for d in render if 0 < d < res.frame_count]
    assert render == sorted(render), "render progress went backwards"
    assert len(set(middle)) >= res.frame_count // 4, f"only {len(set(middle))} reports before the end: {render}"


class SeamEngine(ToyEngine):
    """A third engine that uses every optional part of the interface in engines/base.py."""

    def __init__(self, options=None):
        super().__init__(options)
        self.setups_offered: list[dict] = []

    def audio_keypoints(self, crop, audio, pose):
        self.motion_warnings = ("the toy transcript was not used",)
        return super().audio_keypoints(crop, audio, pose)

    def emotion_result(self, emotion, kp_audio, crop, neutral=None):
        return EmotionResult(super().emotion_result(emotion, kp_audio, crop).displacements, "toy neutral")

    def render_setup(self, crop):
        return {"rows": np.array([crop.image.shape[0]])}

    def use_render_setup(self, crop, setup):
        self.setups_offered.append(setup)
        return True


def test_the_engine_seam_reports_reference_warnings_and_render_setup(inputs, tmp_path):
    cache = tmp_path / "cache"
    first = run_job(spec(inputs), tmp_path / "a", cache_dir=cache, engine=SeamEngine())
    assert first.emotion_reference == "toy neutral"
    assert "the toy transcript was not used" in first.warnings
    man = json.loads(first.manifest.read_text())
    assert man["emotion_reference"] == "toy neutral" and "the toy transcript was not used" in man["warnings"]
    assert len(list((cache / "render_setup").glob("*.npz"))) == 1
    # a strength-only rerun: motion and emotion come from the cache with their reference and warnings,
    # and the stored render setup is handed back to the engine
    again = SeamEngine()
    second = run_job(spec(inputs, strength=0.5), tmp_path / "b", cache_dir=cache, engine=again)
    assert {"motion", "emotion"} <= set(second.cached_stages) and again.motion_calls == 0
    assert second.emotion_reference == "toy neutral" and "the toy transcript was not used" in second.warnings
    assert [int(s["rows"][0]) for s in again.setups_offered] == [256]


def test_an_engine_without_the_optional_hooks_reports_no_reference(inputs, tmp_path):
    res = run_job(spec(inputs), tmp_path / "out", cache_dir=tmp_path / "cache", engine=ToyEngine())
    assert res.emotion_reference is None and "emotion_reference" not in json.loads(res.manifest.read_text())
    assert not (tmp_path / "cache" / "render_setup").exists()
