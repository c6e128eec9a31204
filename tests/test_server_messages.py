"""Server messages: a too-long strength list, NaN in a pose CSV, the row of a
keyed pose CSV error, and a manifest without absolute server paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from eamm_core.curves import load_pose_curve
from eamm_core.errors import InputError
from server.app import _validation_message
from server.schemas import MAX_FRAMES, JobRequest
from server.sniff import sniff
from server.uploads import validate_upload

UPLOAD = "a" * 64


def _message(body: dict) -> str:
    with pytest.raises(ValidationError) as err:
        JobRequest.model_validate({"portrait": UPLOAD, "audio": UPLOAD, **body})
    return _validation_message(RequestValidationError(err.value.errors()))[0]


def test_strength_list_longer_than_the_frame_limit_says_so():
    msg = _message({"strength": [0.5] * (MAX_FRAMES + 1)})
    assert msg.startswith("strength:") and str(MAX_FRAMES) in msg and str(MAX_FRAMES + 1) in msg
    assert "valid number" not in msg
    msg = _message({"strength": [0.5, 20.0]})
    assert msg.startswith("strength.1:") and "10" in msg and "valid number" not in msg


def test_pose_csv_with_nan_is_recognised_and_the_row_named(tmp_path):
    text = b"yaw,pitch,roll,scale,tx,ty\n0,0,0,0.0005,63,72\n1,nan,0,0.0005,63,72\n"
    found = sniff(text)
    assert found is not None and found.kind == "pose"
    path = tmp_path / "pose.csv"
    path.write_bytes(text)
    with pytest.raises(InputError) as err:
        validate_upload("pose", "pose", path)
    assert "NaN" in str(err.value) and "row 3" in str(err.value)  # file line, header = row 1


@pytest.mark.parametrize("body, row", [
    ("frame,yaw,pitch,roll,scale,offset_x,offset_y\n0,0,0,0,1,0,0\n10,0,0,0,1,0,0\n20,5,nan,0,1,0,0\n", 4),
    ("frame,yaw,pitch,roll,scale,offset_x,offset_y\n0,0,0,0,1,0,0\n-3,0,0,0,1,0,0\n", 3),
])
def test_keyed_pose_csv_error_names_the_row(tmp_path, body, row):
    path = tmp_path / "keys.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=rf"\brow {row}\b"):
        load_pose_curve(path)
    with pytest.raises(InputError, match=rf"\brow {row}\b"):
        validate_upload("pose", "pose", path)


def test_manifest_paths_are_relative_to_the_job(tmp_path):
    from server.routes.results import public_manifest

    data = tmp_path / "data"
    job = data / "jobs" / "j_0123456789abcdef0123"
    manifest = {"state": "done", "frames": "frames/frame_%06d.png", "mp4": "result.mp4",
                "inputs": {"portrait": {"path": str(data / "uploads" / f"{UPLOAD}.png"), "sha256": UPLOAD},
                           "emotion": {"path": str(job / "in" / "clip.mp4"), "sha256": UPLOAD},
                           "pose": None},
                "warnings": [f"something about {job / 'out'}"]}
    out = public_manifest(manifest, job)
    text = json.dumps(out)
    assert str(tmp_path) not in text
    assert out["inputs"]["portrait"]["path"] == f"{UPLOAD}.png"
    assert out["inputs"]["emotion"]["path"] == "in/clip.mp4"
    assert out["frames"] == "frames/frame_%06d.png" and out["inputs"]["pose"] is None
    assert Path(out["inputs"]["portrait"]["path"]).is_absolute() is False
