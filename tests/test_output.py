"""Frames, MP4 and manifest writing."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from scipy.io import wavfile

from eamm_core.errors import EammError
from eamm_core.output import (
    FrameWriter,
    encode_mp4,
    ffmpeg_exe,
    png_is_complete,
    probe_video,
    read_manifest,
    read_png,
    write_manifest,
)


def test_frames_round_trip_and_are_numbered_by_absolute_index(tmp_path):
    writer = FrameWriter(tmp_path / "frames")
    rgb = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    path = writer.write(1234, rgb)
    assert path.name == "frame_001234.png" and png_is_complete(path)
    np.testing.assert_array_equal(read_png(path), rgb)
    assert writer.indices_on_disk() == [1234] and not list(writer.folder.glob(".*"))


def test_truncated_or_foreign_png_is_not_complete(tmp_path):
    writer = FrameWriter(tmp_path)
    path = writer.write(0, np.zeros((16, 16, 3), np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    assert not png_is_complete(path)
    path.write_bytes(b"JPEG" + data[4:])
    assert not png_is_complete(path)
    assert not png_is_complete(tmp_path / "missing.png")
    assert writer.complete([0, 1]) == set()


def _tone_after_silence(path, silence_s: float, total_s: float, rate: int = 16000):
    t = np.arange(int(total_s * rate)) / rate
    x = np.where(t >= silence_s, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    wavfile.write(path, rate, (x * 32767).astype(np.int16))


def _decoded_audio(mp4) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(mp4), "-map", "0:a:0", "-ac", "1", "-ar", "16000",
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768


def test_mp4_is_h264_yuv420p_25fps_with_audio_from_the_first_frame(tmp_path):
    writer = FrameWriter(tmp_path / "frames")
    for i in range(25, 40):  # odd size: padded to even for yuv420p
        writer.write(i, np.full((171, 255, 3), i * 5, np.uint8))
    writer.write(40, np.zeros((171, 255, 3), np.uint8))  # outside the range: not encoded
    audio = tmp_path / "a.wav"
    _tone_after_silence(audio, 1.0, 3.0)  # silence for 1 s = 25 frames, then a tone
    mp4 = encode_mp4(writer.folder, audio, tmp_path / "out.mp4", 25, start=25, count=15)
    info = probe_video(mp4)
    assert (info.codec, info.pix_fmt, info.fps, info.frames) == ("h264", "yuv420p", 25.0, 15)
    assert (info.width, info.height) == (256, 172) and info.has_audio and info.audio_codec == "aac"
    assert abs(info.duration_s - 0.6) < 0.05
    pcm = _decoded_audio(mp4)
    assert np.sqrt(np.mean(pcm[400:2400] ** 2)) > 0.2  # the tone starts with the first frame


def test_mp4_audio_shorter_than_frames_is_padded(tmp_path):
    writer = FrameWriter(tmp_path / "frames")
    for i in range(20):
        writer.write(i, np.full((64, 64, 3), 128, np.uint8))
    audio = tmp_path / "short.wav"
    _tone_after_silence(audio, 0.0, 0.3)
    info = probe_video(encode_mp4(writer.folder, audio, tmp_path / "o.mp4", 25, start=0, count=20))
    assert info.frames == 20 and abs(info.duration_s - 0.8) < 0.05


def test_encode_failure_is_a_one_line_error_and_leaves_no_partial_file(tmp_path):
    (tmp_path / "frames").mkdir()
    with pytest.raises(EammError, match="could not encode out.mp4 with ffmpeg") as info:
        encode_mp4(tmp_path / "frames", None, tmp_path / "out.mp4", 25, start=0, count=3)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*mp4"))


def test_manifest_round_trip_and_corrupt_manifest_reads_as_none(tmp_path):
    path = write_manifest(tmp_path / "manifest.json", {"state": "done", "frame_count": 3, "where": tmp_path})
    assert read_manifest(path) == {"state": "done", "frame_count": 3, "where": str(tmp_path)}
    path.write_text('{"state": "do')
    assert read_manifest(path) is None
    assert read_manifest(tmp_path / "none.json") is None


def test_streamed_mp4_matches_the_encoded_one(tmp_path):
    from eamm_core.output import Mp4Stream

    audio = tmp_path / "a.wav"
    _tone_after_silence(audio, 0.4, 2.0)
    stream = Mp4Stream(audio, tmp_path / "s.mp4", 25, start=10, count=12)
    writer = FrameWriter(tmp_path / "frames")
    for i in range(10, 22):
        frame = np.full((99, 130, 3), (i * 9) % 256, np.uint8)
        stream.write(frame)
        writer.write(i, frame)
    streamed = probe_video(stream.close())
    encoded = probe_video(encode_mp4(writer.folder, audio, tmp_path / "e.mp4", 25, start=10, count=12))
    assert streamed == encoded
    assert (streamed.width, streamed.height, streamed.frames, streamed.codec) == (130, 100, 12, "h264")
    assert np.sqrt(np.mean(_decoded_audio(tmp_path / "s.mp4")[:1600] ** 2)) > 0.2  # the tone from 0.4 s


def test_aborted_stream_leaves_nothing(tmp_path):
    from eamm_core.output import Mp4Stream

    stream = Mp4Stream(None, tmp_path / "s.mp4", 25, start=0, count=50)
    stream.write(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(EammError, match="frame size 32x32 differs"):
        stream.write(np.zeros((32, 32, 3), np.uint8))
    stream.abort()
    assert not list(tmp_path.iterdir())


def test_installed_versions_match_importlib_metadata():
    from importlib import metadata

    from eamm_core.output import RECORDED_DISTRIBUTIONS, installed_versions

    found = installed_versions(RECORDED_DISTRIBUTIONS)
    for name in RECORDED_DISTRIBUTIONS:
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            assert name not in found
            continue
        assert found[name] == expected, name


def test_installed_versions_first_on_path_wins_and_names_normalise(tmp_path):
    from eamm_core.output import installed_versions

    first, second = tmp_path / "a", tmp_path / "b"
    for folder, entries in ((first, ["Opencv_Python.Headless-5.1.dist-info", "notes.txt"]),
                            (second, ["opencv_python_headless-4.0.dist-info", "dlib_bin-20.0.1.post1.dist-info",
                                      "torch-2.13.0+cpu.dist-info"])):
        folder.mkdir()
        for entry in entries:
            (folder / entry).mkdir() if entry.endswith("dist-info") else (folder / entry).write_text("x")
    got = installed_versions(["opencv-python-headless", "dlib-bin", "torch", "absent"],
                             [str(first), str(tmp_path / "missing"), str(second)])
    assert got == {"opencv-python-headless": "5.1", "dlib-bin": "20.0.1.post1", "torch": "2.13.0+cpu"}


def _frames_folder(tmp_path, count=3, extra=()):
    writer = FrameWriter(tmp_path / "out" / "frames")
    for i in range(count):
        writer.write(i, np.full((4, 4, 3), i, np.uint8))
    (writer.folder / ".frame_000009.png.abc123.part").write_bytes(b"partial")
    for name in extra:
        (writer.folder / name).write_text("the artist's notes")
    return writer


def test_discard_all_empties_the_folder_at_once_and_deletes_in_the_background(tmp_path):
    writer = _frames_folder(tmp_path)
    thread = writer.discard_all()
    assert writer.folder.is_dir() and list(writer.folder.iterdir()) == []  # empty before the join
    assert thread is not None
    thread.join()
    assert sorted(p.name for p in writer.folder.parent.iterdir()) == ["frames"]  # the set-aside copy is gone
    assert writer.discard_all() is None  # nothing left to delete


def test_discard_all_keeps_files_that_are_not_frames(tmp_path):
    writer = _frames_folder(tmp_path, extra=["notes.txt"])
    assert writer.discard_all() is None  # removed one by one, in place
    assert [p.name for p in writer.folder.iterdir()] == ["notes.txt"]


def test_leftovers_of_a_killed_deletion_are_cleaned(tmp_path):
    from eamm_core.output import DISCARDED_PREFIX, discard_leftovers

    out = tmp_path / "out"
    left = out / f"{DISCARDED_PREFIX}frames-1-2"
    left.mkdir(parents=True)
    (left / "frame_000000.png").write_bytes(b"x")
    (out / "frames").mkdir()
    thread = discard_leftovers(out)
    assert thread is not None
    thread.join()
    assert sorted(p.name for p in out.iterdir()) == ["frames"]
    assert discard_leftovers(out) is None
