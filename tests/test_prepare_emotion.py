"""Emotion clips: 25 fps by time, alignment on landmarks 0-34, seeded augmentation, extension.

Clips are made in the test from the sample portrait's face (``conftest.sample_face_clip``); the
real recordings of ``../shared`` (a MEAD emotion clip, a 1080p talking clip) add the same checks on
real footage when present.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sample_face_clip, sample_face_rgb, shared_path, write_clip
from PIL import Image

from eamm_core.errors import InputError
from eamm_core.prepare.emotion import MOUTH_BOX, augment_clip, load_emotion_clip
from eamm_core.prepare.faces import load_template
from eamm_core.prepare.video import read_frames, source_index_for


@pytest.fixture(scope="module")
def face_rgb():
    return np.asarray(sample_face_rgb())


@pytest.fixture(scope="module", params=["sample", "mead_happy"])
def happy_path(request, tmp_path_factory):
    if request.param == "sample":
        return sample_face_clip(tmp_path_factory.mktemp("emotion") / "sample.mp4", 30)
    return shared_path("fixtures", "emotion", "happy.mp4", why="a real MEAD emotion clip")


@pytest.fixture(scope="module")
def happy(happy_path):
    return load_emotion_clip(happy_path, 12, seed=7)


def test_30fps_clip_is_resampled_by_time(tmp_path):
    frames = [np.full((64, 64, 3), 4 * i, np.uint8) for i in range(45)]  # brightness = 4 x index
    write_clip(tmp_path / "c30.mp4", frames, 30)
    video = read_frames(tmp_path / "c30.mp4")
    assert video.source_fps == 30.0
    expected = np.floor(np.arange(len(video.source_index)) * 1.2 + 0.5).astype(int)
    np.testing.assert_array_equal(video.source_index, expected)
    shown = np.round(video.frames[:, 32, 32, 0] / 4.0).astype(int)
    np.testing.assert_array_equal(shown, expected)  # the pixels really are those source frames
    assert len(video.source_index) == 38  # t = 37 (1.48 s) is nearest to source frame 44, the last
    assert list(source_index_for(np.arange(6), 24.0)) == [0, 1, 2, 3, 4, 5]
    assert list(source_index_for(np.arange(26, 28), 24.0)) == [25, 26]  # one 24 fps frame shown twice
    assert list(source_index_for([24, 25], 24.0)) == [23, 24]


def _big_30fps_clip(path):
    """A 1280x720 30 fps clip of the sample face, enlarged and drifting (a stand-in for a phone video)."""
    import cv2

    big = cv2.resize(np.asarray(sample_face_rgb()), (512, 512), interpolation=cv2.INTER_CUBIC)
    frames = []
    for i in range(15):
        canvas = np.full((720, 1280, 3), 70, np.uint8)
        canvas[100 + i:612 + i, 380 + 3 * i:892 + 3 * i] = big
        frames.append(canvas)
    return write_clip(path, frames, 30)


@pytest.mark.parametrize("which", ["sample", "mead_talking"])
def test_talking_30fps_clip(tmp_path, which):
    if which == "sample":
        path = _big_30fps_clip(tmp_path / "talk30.mp4")
    else:
        path = shared_path("fixtures", "talking", "M030_sad_3_001.mp4", why="a real 1080p 30 fps recording")
    clip = load_emotion_clip(path, 10, augment=False)
    np.testing.assert_array_equal(clip.source_index, [0, 1, 2, 4, 5, 6, 7, 8, 10, 11])
    tpl = load_template()
    err = np.sqrt(((clip.landmarks_px[:, :35] - tpl[:35]) ** 2).sum(-1).mean(-1))
    assert err.max() < 12.0  # each 1080p frame aligned onto the template
    assert np.array_equal(clip.aligned, clip.augmented)


def test_alignment_removes_head_motion(tmp_path, face_rgb):
    frames = []
    for i in range(12):  # the face slides 4 px right per frame in a 25 fps clip
        canvas = np.full((320, 384, 3), 60, np.uint8)
        canvas[32:288, 20 + 4 * i:276 + 4 * i] = face_rgb
        frames.append(canvas)
    write_clip(tmp_path / "slide.mp4", frames, 25)
    clip = load_emotion_clip(tmp_path / "slide.mp4", 12, augment=False)
    spread = clip.landmarks_px[:, :35].std(axis=0).max()
    assert spread < 1.5  # the same face at the same place in every aligned frame
    assert np.abs(clip.aligned[0].astype(int) - clip.aligned[-1]).mean() < 6


def test_seeded_augmentation_is_reproducible_and_seed_dependent(happy, happy_path):
    again = load_emotion_clip(happy_path, 12, seed=7)
    np.testing.assert_array_equal(happy.augmented, again.augmented)
    other = augment_clip(happy.aligned, 8)[0]
    assert not np.array_equal(other, happy.augmented)
    assert happy.seed == 7 and happy.augmented.shape == (12, 256, 256, 3)


def test_augmentation_pieces(happy):
    aug, picked, _ = augment_clip(happy.aligned, 123)
    assert np.abs(picked - np.arange(len(picked))).max() <= 2 and len(set(picked)) > 1
    flips = {augment_clip(happy.aligned[:2], seed)[2] for seed in range(12)}
    assert flips == {True, False}
    # the mouth is occluded by noise whatever the warp and flip: neighbouring pixels differ wildly
    x0, y0, x1, y1 = MOUTH_BOX

    def roughness(frames):
        return np.abs(np.diff(frames.astype(float), axis=2)).mean()

    assert roughness(aug[:, 178:202, 115:155]) > 4 * roughness(happy.aligned[:, y0:y1, x0:x1])
    # outside the mouth box the picture is the face, warped, not noise
    assert roughness(aug[:, 60:110, 60:200]) < 2 * roughness(happy.aligned[:, 60:110, 60:200]) + 2
    # with the same picks the seeded warp moves the picture: augmented != aligned
    assert np.abs(aug.astype(int) - happy.aligned[picked]).mean() > 5


def test_short_clip_is_extended_by_ping_pong_and_folder_input(tmp_path, face_rgb):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        img = np.roll(face_rgb, 2 * i, axis=1)
        Image.fromarray(img).save(folder / f"f{i + 1}.png")
    Image.fromarray(face_rgb).save(folder / "f10.png")  # natural order: f10 after f4
    clip = load_emotion_clip(folder, 13, augment=False)
    np.testing.assert_array_equal(clip.source_index, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0, 1, 2])
    assert len(clip) == 13


def test_clip_without_a_face(tmp_path):
    frames = [np.full((128, 128, 3), 30 + i, np.uint8) for i in range(30)]
    write_clip(tmp_path / "wall.mp4", frames, 25)
    with pytest.raises(InputError, match="no face found in wall.mp4"):
        load_emotion_clip(tmp_path / "wall.mp4", 30)


def test_missing_faces_reuse_previous_landmarks(tmp_path, face_rgb):
    frames = [face_rgb.copy() for _ in range(6)]
    frames[3] = np.full_like(face_rgb, 40)  # a blank frame in the middle
    write_clip(tmp_path / "gap.mp4", frames, 25)
    clip = load_emotion_clip(tmp_path / "gap.mp4", 6, augment=False)
    np.testing.assert_allclose(clip.landmarks_px[3], clip.landmarks_px[2])
    assert len(clip.warnings) == 1 and "1 of 6" in clip.warnings[0]


@pytest.mark.parametrize("suffix,codec", [(".mov", "libx264"), (".mkv", "libx264"), (".avi", "mpeg4")])
def test_other_containers_and_24fps(tmp_path, suffix, codec):
    import imageio_ffmpeg

    path = tmp_path / f"clip{suffix}"
    writer = imageio_ffmpeg.write_frames(str(path), (64, 64), fps=24, codec=codec, quality=10, macro_block_size=1)
    writer.send(None)
    for i in range(30):
        writer.send(np.full((64, 64, 3), 8 * i, np.uint8).tobytes())
    writer.close()
    video = read_frames(path)
    assert video.source_fps == pytest.approx(24.0)
    expected = np.floor(np.arange(len(video.source_index)) * 24 / 25 + 0.5).astype(int)
    np.testing.assert_array_equal(video.source_index, expected)
    shown = np.round(video.frames[:, 32, 32, 0] / 8.0).astype(int)
    assert np.abs(shown - expected).max() <= 1  # lossy codecs: within one brightness step
