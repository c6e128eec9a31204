"""Pose curves keyed in artist units are absolute: scale 1 = the portrait's own size, offsets in crop
widths, whatever the first key says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eamm_core.job import JobSpec
from eamm_core.output import read_png
from eamm_core.pipeline import run_job

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"


def _face(frame: np.ndarray) -> np.ndarray:
    from eamm_core.prepare.faces import FaceLandmarker

    faces = FaceLandmarker.shared().detect(frame)
    assert faces, "no face found in a rendered frame"
    return faces[0].landmarks


def _render(tmp_path: Path, audio: Path, name: str, **kw) -> np.ndarray:
    spec = JobSpec(portrait=PORTRAIT, audio=audio, seed=0, blink=False, frame_end=2, write_mp4=False, **kw)
    res = run_job(spec, tmp_path / name, use_cache=False)
    return read_png(res.frames_dir / "frame_000001.png")


def test_artist_curve_scale_and_offset_from_the_first_key_change_the_frames(tmp_path, speech_1s):
    curve = tmp_path / "pose.json"
    curve.write_text(json.dumps({"units": "artist", "keys": {"0": [0, 0, 0, 1.3, 0.1, 0],
                                                             "40": [0, 0, 0, 1.3, 0.1, 0]}}))
    identity = tmp_path / "identity.json"
    identity.write_text(json.dumps({"units": "artist", "keys": {"0": [0, 0, 0, 1, 0, 0]}}))
    plain = _render(tmp_path, speech_1s, "plain")
    keyed = _render(tmp_path, speech_1s, "keyed", pose=curve)
    lm_plain, lm_keyed = _face(plain), _face(keyed)
    ratio = _eye_span(lm_keyed) / _eye_span(lm_plain)
    shift = float(lm_keyed[27:36, 0].mean() - lm_plain[27:36, 0].mean())  # nose, x
    assert 1.15 < ratio < 1.45, ratio
    assert shift > 0.05 * 256, shift  # offset_x 0.1 crop widths = 25.6 px to the right (+ scale about the pivot)
    # an absolute identity curve (scale 1, offset 0; angles 0 are absolute too) keeps the portrait's size and place
    lm_ident = _face(_render(tmp_path, speech_1s, "identity", pose=identity))
    assert abs(_eye_span(lm_ident) / _eye_span(lm_plain) - 1.0) < 0.07
    assert abs(float(lm_ident[27:36, 0].mean() - lm_plain[27:36, 0].mean())) < 5.0

def test_server_artist_units_make_the_job_pose_absolute():
    from server.schemas import JobRequest, _pose_absolute

    assert _pose_absolute(JobRequest.model_construct(pose=[[0, 0, 0, 1.3, 0.1, 0]], pose_units="artist")) is True
    assert _pose_absolute(JobRequest.model_construct(pose=[[0, 0, 0, 5e-4, 63, 72]], pose_units="3ddfa")) is False


def test_job_runner_passes_pose_absolute_to_the_job():
    from server.job_runner import build_spec

    base = {"portrait": "p.png", "audio": "a.wav", "pose": [[0, 0, 0, 6.5e-4, 75, 72]]}
    assert build_spec({**base, "pose_absolute": True}).pose_absolute is True
    assert build_spec(base).pose_absolute is False


def _eye_span(lm) -> float:
    """Distance between the outer eye corners."""
    return float(np.linalg.norm(lm[45] - lm[36]))
