"""``eamm prepare`` reads the inputs with the job's own stage code: what it writes is what a job uses
(a keyed pose curve, a neutral clip read without augmentation, the emotion clip, crop and audio)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import wavfile

from eamm_core.engines.base import EmotionResult, Engine
from eamm_core.job import JobSpec
from eamm_core.pipeline import run_job
from eamm_core.stages import prepare_inputs
from eamm_core.types import Keypoints

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"
SPEECH = REPO / "samples" / "speech.wav"


class RecordingEngine(Engine):
    """Records what the pipeline hands the engine; renders grey frames."""

    name = "recording"
    face_keypoints = (0, 1, 2)

    def __init__(self, options=None):
        super().__init__(options)
        self.seen: dict = {}

    def describe(self) -> dict:
        return {"engine": self.name, "version": "1"}

    def source_keypoints(self, crop):
        self.seen["crop"] = crop
        return Keypoints(np.zeros((1, 3, 2), np.float32), np.tile(np.eye(2, dtype=np.float32), (1, 3, 1, 1)))

    def audio_keypoints(self, crop, audio, pose):
        self.seen.update(audio=audio, pose=pose)
        t = audio.num_frames
        return Keypoints(np.zeros((t, 3, 2), np.float32), np.tile(np.eye(2, dtype=np.float32), (t, 3, 1, 1)))

    def emotion_result(self, emotion, kp_audio, crop, neutral=None):
        self.seen.update(emotion=emotion, neutral=neutral)
        t = len(kp_audio)
        return EmotionResult(Keypoints(np.zeros((t, 3, 2), np.float32), np.zeros((t, 3, 2, 2), np.float32)))

    def render(self, crop, kp_source, kp_driving, indices):
        for i in indices:
            yield int(i), np.full((256, 256, 3), 128, np.uint8)


def _clip_folder(folder: Path, shifts: list[int]) -> Path:
    """A folder of frames: the sample portrait shifted a few pixels per frame (one face throughout)."""
    folder.mkdir()
    image = cv2.imread(str(PORTRAIT))
    for n, dx in enumerate(shifts):
        moved = cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dx // 2]]), image.shape[1::-1],
                               borderMode=cv2.BORDER_REPLICATE)
        cv2.imwrite(str(folder / f"frame_{n:03d}.png"), moved)
    return folder


@pytest.fixture(scope="module")
def job_inputs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("inputs")
    rate, data = wavfile.read(SPEECH)
    wavfile.write(folder / "speech.wav", rate, data[: int(1.2 * rate)])
    curve = folder / "pose.json"
    curve.write_text(json.dumps({"keys": {"0": [0, 0, 0, 1, 0, 0], "8": [15, -5, 3, 1.1, 0.02, 0]}}))
    return {"audio": folder / "speech.wav", "pose": curve,
            "emotion": _clip_folder(folder / "emotion", [0, 4, 8]),
            "neutral": _clip_folder(folder / "neutral", [0, -3, 2])}


def test_prepare_inputs_are_what_the_job_hands_the_engine(job_inputs, tmp_path):
    spec = JobSpec(portrait=PORTRAIT, audio=job_inputs["audio"], emotion=job_inputs["emotion"],
                   emotion_neutral=job_inputs["neutral"], pose=job_inputs["pose"], seed=5, write_mp4=False)
    engine = RecordingEngine()
    run_job(spec, tmp_path / "out", use_cache=False, engine=engine)
    seen = engine.seen
    prep = prepare_inputs(spec)

    t = seen["audio"].num_frames
    assert prep.num_frames == t and len(prep.pose.values) == t
    np.testing.assert_array_equal(prep.audio.windows, seen["audio"].windows)
    np.testing.assert_array_equal(prep.crop.image, seen["crop"].image)
    # the keyed curve, read as the job reads it (artist units, absolute): not a per-frame table
    np.testing.assert_array_equal(prep.pose.values, seen["pose"].values)
    assert prep.pose.values[0, 0] != prep.pose.values[8, 0]
    for name in ("emotion", "neutral"):
        mine, used = getattr(prep, name), seen[name]
        assert len(mine) == len(used) == t
        for i in range(t):
            np.testing.assert_array_equal(mine.augmented[i], used.augmented[i])
            np.testing.assert_array_equal(mine.aligned[i], used.aligned[i])
    # the neutral clip is measured as it is, the emotion clip as the network sees it
    assert all(np.array_equal(prep.neutral.augmented[i], prep.neutral.aligned[i]) for i in range(t))
    assert not np.array_equal(prep.emotion.augmented[0], prep.emotion.aligned[0])


def test_prepare_ignores_a_neutral_clip_beside_a_preset_as_the_job_does(job_inputs):
    spec = JobSpec(portrait=PORTRAIT, audio=job_inputs["audio"], emotion=REPO / "samples" / "happy.npz",
                   emotion_neutral=job_inputs["neutral"])
    prep = prepare_inputs(spec)
    assert prep.neutral is None and prep.emotion.name == "happy"
