"""``eamm prepare`` end to end, and every bad input of docs/inputs.md as a one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, SAMPLE_PORTRAIT, SAMPLE_SPEECH, pose_file, sample_face_rgb, shared_path
from PIL import Image


def run_prepare(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "eamm_core", "prepare", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, filename: str, *words: str) -> str:
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("eamm: ") and filename in line, line
    for word in words:
        assert word in line, line
    assert ":" in line.split(filename, 1)[1], f"no advice after the file name: {line}"
    return line


def _short_wav(src: Path, dst: Path) -> Path:
    import soundfile

    speech, sr = soundfile.read(src, dtype="float32")
    soundfile.write(dst, speech[:16000 * 2], sr)  # 2 s keeps the runs cheap
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory, sample_face_png):
    """The repo's samples: the sample face crop as the portrait, 2 s of the sample speech."""
    d = tmp_path_factory.mktemp("inputs")
    return {"dir": d, "portrait": sample_face_png, "face": np.asarray(sample_face_rgb()),
            "audio": _short_wav(SAMPLE_SPEECH, d / "short.wav")}


def _full_inputs(which: str, d: Path, sample_clip: Path) -> dict:
    """Portrait, 2 s speech, emotion clip, pose file and the portrait's expected face box."""
    if which == "sample":
        return {"portrait": SAMPLE_PORTRAIT, "audio": _short_wav(SAMPLE_SPEECH, d / "short.wav"),
                "emotion": sample_clip, "pose": pose_file("synthetic", d), "face_box": [175, 76, 265, 166]}
    why = "real recordings for the end-to-end prepare"
    return {"portrait": shared_path("fixtures", "portraits", "60.png", why=why),
            "audio": _short_wav(shared_path("fixtures", "audio", "speech_7s.wav", why=why), d / "short.wav"),
            "emotion": shared_path("fixtures", "emotion", "happy.mp4", why=why),
            "pose": pose_file("pose_sequence_93.npy", d), "face_box": [67, 82, 196, 211]}


@pytest.mark.parametrize("which", ["sample", "fixtures"])
def test_prepare_writes_everything(which, sample_clip, tmp_path):
    inputs = _full_inputs(which, tmp_path, sample_clip)
    out = tmp_path / "prep"
    proc = run_prepare("--portrait", inputs["portrait"], "--audio", inputs["audio"], "--emotion", inputs["emotion"],
                       "--pose", inputs["pose"], "--out", out, "--seed", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    # 2 s -> 32000 + 2 x 1920 samples -> 223 MFCC rows -> floor(223 / 4) - 6 = 49 frames
    assert summary["frame_count"] == 49 and summary["duration_s"] == pytest.approx(2.0)
    assert summary["portrait"]["face_box"] == inputs["face_box"] and summary["warnings"] == []
    windows = np.load(out / "mfcc_windows.npy")
    assert windows.shape == (49, 28, 12) and windows.dtype == np.float32
    pose = np.load(out / "pose.npy")
    np.testing.assert_allclose(pose, np.load(inputs["pose"])[:49, :6], rtol=1e-6)
    crop = np.asarray(Image.open(out / "crop.png"))
    assert crop.shape == (256, 256, 3)
    assert np.asarray(Image.open(out / "crop_landmarks.png")).shape == (512, 512, 3)
    strip = np.asarray(Image.open(out / "emotion_strip.png"))
    assert strip.shape == (512, 256 * 8, 3)
    assert summary["emotion"]["frames"] == 49 and summary["seed"] == 3
    for name in summary["files"]:
        assert (out / name).is_file()


def test_several_faces_warn_and_face_index_chooses(files, tmp_path):
    import cv2

    canvas = np.full((400, 720, 3), 100, np.uint8)
    canvas[100:356, 440:696] = files["face"]
    canvas[60:252, 40:232] = cv2.resize(files["face"], (192, 192))
    Image.fromarray(canvas).save(tmp_path / "two.png")
    proc = run_prepare("--portrait", tmp_path / "two.png", "--audio", files["audio"], "--out", tmp_path / "a",
                       cwd=tmp_path)
    assert proc.returncode == 0 and "2 faces found in two.png" in proc.stderr and "--face-index" in proc.stderr
    assert "Traceback" not in proc.stderr
    box_a = json.loads((tmp_path / "a" / "summary.json").read_text())["portrait"]["face_box"]
    proc = run_prepare("--portrait", tmp_path / "two.png", "--audio", files["audio"], "--out", tmp_path / "b",
                       "--face-index", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    box_b = json.loads((tmp_path / "b" / "summary.json").read_text())["portrait"]["face_box"]
    assert box_a[0] > 400 > box_b[0]


def _bad_portraits(d: Path, face: np.ndarray) -> dict[str, tuple[Path, tuple[str, ...]]]:
    import cv2

    png = d / "portrait_ok.png"
    Image.fromarray(face).save(png)
    data = png.read_bytes()
    (d / "cut.png").write_bytes(data[: len(data) // 3])
    (d / "notes.jpg").write_text("this is not a picture\n")
    Image.fromarray(np.full((300, 300, 3), 120, np.uint8)).save(d / "portrait.jpg")
    small = np.full((600, 800, 3), 110, np.uint8)
    small[200:328, 300:428] = cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA)
    Image.fromarray(small).save(d / "far.png")
    return {
        "truncated": (d / "cut.png", ("truncated",)),
        "not an image": (d / "notes.jpg", ("not an image",)),
        "no face": (d / "portrait.jpg", ("no face found in portrait.jpg: use a photo where the face is frontal "
                                         "and at least 80 px wide",)),
        "face too small": (d / "far.png", ("too small", "80 px")),
        "missing": (d / "nowhere.png", ("not found",)),
    }


@pytest.mark.parametrize("case", ["truncated", "not an image", "no face", "face too small", "missing"])
def test_bad_portrait(case, files, tmp_path):
    path, words = _bad_portraits(tmp_path, files["face"])[case]
    proc = run_prepare("--portrait", path, "--audio", files["audio"], "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(proc, path.name, *words)
    assert not (tmp_path / "o").exists()


def _bad_audio(d: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    import soundfile

    soundfile.write(d / "silence.wav", np.zeros(32000, np.float32), 16000)
    soundfile.write(d / "blip.wav", np.full(300, 0.2, np.float32), 16000)
    (d / "empty.mp3").write_bytes(b"")
    (d / "speech.mp3").write_text("definitely not audio " * 50)
    header = (d / "silence.wav").read_bytes()[:30]
    (d / "cut.wav").write_bytes(header)
    return {
        "silent": (d / "silence.wav", ("silent",)),
        "too short": (d / "blip.wav", ("too short",)),
        "empty": (d / "empty.mp3", ("empty",)),
        "not audio": (d / "speech.mp3", ("not an audio",)),
        "truncated": (d / "cut.wav", ("damaged",)),
    }


@pytest.mark.parametrize("case", ["silent", "too short", "empty", "not audio", "truncated"])
def test_bad_audio(case, files, tmp_path):
    path, words = _bad_audio(tmp_path)[case]
    proc = run_prepare("--portrait", files["portrait"], "--audio", path, "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(proc, path.name, *words)


def test_bad_emotion_clip(files, tmp_path):
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(str(tmp_path / "wall.mp4"), (128, 128), fps=25, macro_block_size=1)
    writer.send(None)
    for i in range(30):
        writer.send(np.full((128, 128, 3), 40 + i, np.uint8).tobytes())
    writer.close()
    proc = run_prepare("--portrait", files["portrait"], "--audio", files["audio"], "--emotion",
                       tmp_path / "wall.mp4", "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(proc, "wall.mp4", "no face found")
    data = (tmp_path / "wall.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "clip.mov").write_text("not a video")
    for name in ("cut.mp4", "clip.mov"):
        proc = run_prepare("--portrait", files["portrait"], "--audio", files["audio"], "--emotion",
                           tmp_path / name, "--out", tmp_path / "o", cwd=tmp_path)
        assert_one_line_error(proc, name, "video")


@pytest.mark.parametrize("content,words", [
    (np.zeros((10, 4)), ("shape (10, 4)",)),
    (np.array([[1.0, np.nan, 0, 5e-4, 63, 72, -66]]), ("NaN",)),
])
def test_bad_pose(content, words, files, tmp_path):
    np.save(tmp_path / "head.npy", content)
    proc = run_prepare("--portrait", files["portrait"], "--audio", files["audio"], "--pose", tmp_path / "head.npy",
                       "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(proc, "head.npy", *words)
